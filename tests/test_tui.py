"""The guided TUI, driven through Textual's pilot: each screen, navigation, help, quitting,
and the whole flow on a real loop-attached practice disk whose initramfs was deleted, ending
with the initramfs rebuilt and the journal written. Also what its start costs: the first
screen loads no engine module and is drawn once on a serial line, and the disk is looked at
while the operator reads it (what that finds waits for Enter; quitting there leaves nothing)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, rescuetui_exe

from rescuetui.app import RescueApp
from rescuetui.core.journal import Journal
from rescuetui.lab.disk import BuiltDisk, Part, fstab_for
from rescuetui.screens.evidence import EvidenceScreen
from rescuetui.screens.fix import FixScreen
from rescuetui.screens.help import HelpScreen
from rescuetui.screens.practice import PracticePickScreen
from rescuetui.screens.report import ReportScreen
from rescuetui.screens.start import StartScreen
from rescuetui.screens.tree import TreeScreen
from rescuetui.terminal import Profile

SERIAL = Profile(True, "test", 80, 24)
ENV = {"boot": "BIOS", "medium": "test", "machine": "test", "console": "/dev/ttyS0"}


def _app(**kwargs: Any) -> RescueApp:
    kwargs.setdefault("profile", SERIAL)
    kwargs.setdefault("environment", ENV)
    return RescueApp(**kwargs)


def _text(app: RescueApp) -> str:
    return "\n".join(str(w.render()) for w in app.screen.query("Static"))


async def _until(pilot: Any, test: Callable[[], bool], seconds: float = 300) -> None:
    for _ in range(int(seconds / 0.2)):
        if test():
            return
        await pilot.pause(0.2)
    raise AssertionError("the TUI did not get there in time")


async def test_start_screen_says_what_happens_and_help_opens_and_closes() -> None:
    app = _app(disk="/nonexistent.img")
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, StartScreen)
        text = _text(app)
        assert "/nonexistent.img" in text and "serial profile" in text
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, StartScreen)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("enter")
        assert isinstance(app.screen, StartScreen)
        await pilot.press("q")
    assert app.return_value == 0


async def test_a_disk_that_is_not_there_ends_in_a_report_that_says_so() -> None:
    app = _app(disk="/nonexistent.img")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await _until(pilot, lambda: isinstance(app.screen, ReportScreen), 60)
        assert "Stopped:" in _text(app) and "nonexistent" in _text(app)
        await pilot.press("q")
    assert app.return_value == 1


async def test_what_the_look_finds_waits_on_the_start_screen_until_enter(tmp_path: Path) -> None:
    """The engine looks while the start screen is read; its end (no such disk) is held, and
    shown only once the operator starts. A session that recorded nothing keeps no journal."""
    app = _app(disk="/nonexistent.img", journal_base=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        await _until(pilot, lambda: app.bridge is not None and app.bridge.finished.is_set(), 60)
        await pilot.pause(0.2)
        assert isinstance(app.screen, StartScreen) and app.held, app.held
        assert app.status == 0
        await pilot.press("enter")
        await _until(pilot, lambda: isinstance(app.screen, ReportScreen), 60)
        assert "nonexistent" in _text(app)
        await pilot.press("q")
    assert app.return_value == 1
    assert list((tmp_path / "journal").glob("*")) == []


def test_the_first_screen_loads_no_engine_module() -> None:
    """Drawing the start screen needs Textual and the start screen: the engine (checks, fixes,
    diagnosis, the practice scenarios) loads in the repair worker once it is drawn."""
    code = (
        "import sys\n"
        "from rescuetui.app import RescueApp\n"
        "from rescuetui.terminal import Profile\n"
        "app = RescueApp(profile=Profile(True, 'test', 80, 24), disk='/dev/sdz')\n"
        "app.get_default_screen()\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith(('rescuetui.checks', "
        "'rescuetui.fixes', 'rescuetui.diagnose', 'rescuetui.lab', 'rescuetui.core.session', "
        "'rescuetui.core.inventory')))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_first_screen_comes_whole_within_the_serial_budget(tmp_path: Path) -> None:
    """`rescuetui --disk IMG` under TERM=vt220 in a pseudo-terminal: the first screen comes
    whole, within the serial byte budget, and stays (the look's end waits for Enter)."""
    from rescuetui.lab.pty import PtySession
    from rescuetui.lab.serial_budget import FIRST_SCREEN_BUDGET

    session = PtySession([rescuetui_exe(), "--disk", "/nonexistent.img", "--journal",
                          str(tmp_path / "journal")], term="vt220")
    try:
        first = session.read_until_quiet(quiet=1.5, until=b"Enter Start", timeout=60)
        session.send(b"q")
    finally:
        status = session.close()
    assert status == 0
    assert b"This program will:" in first and b"Enter Start" in first
    assert b"Stopped" not in first and b"nonexistent.img: no such" not in first
    assert len(first) <= FIRST_SCREEN_BUDGET, len(first)


async def test_practice_picker_lists_every_scenario() -> None:
    from rescuetui.lab.scenarios import SCENARIOS

    app = _app(pick_practice=True)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, PracticePickScreen)
        menu = app.screen.query_one("#scenarios")
        assert len(menu.items) == len(SCENARIOS)  # type: ignore[attr-defined]
        await pilot.press("down")
        assert "Symptom:" in _text(app)
        await pilot.press("q")


def _small_system(make_disk: Callable[..., BuiltDisk]) -> BuiltDisk:
    """A disk with an installed system as the search sees one: os-release and fstab."""
    parts = [Part(None, "ext4", "/", label="root")]
    return make_disk(parts, table="msdos", fstab=fstab_for(parts),
                     files={"/etc/os-release": b'PRETTY_NAME="Look Linux"\nID=debian\n'})


def _found_held(app: RescueApp) -> bool:
    return any(getattr(m, "name", None) == "found" for m in app.held or [])


@pytest.mark.root
async def test_the_disk_is_searched_while_the_start_screen_is_read(
        make_disk: Callable[..., BuiltDisk], tmp_path: Path) -> None:
    """Before Enter, the image is attached and searched; Enter then shows the system found
    at once, and quitting from there takes everything down."""
    disk = _small_system(make_disk)
    app = _app(disk=str(disk.image), journal_base=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        await _until(pilot, lambda: _found_held(app), 60)
        assert isinstance(app.screen, StartScreen)
        assert _leftovers(disk.image)[1], "the image is not attached while the screen is read"
        await pilot.press("enter")
        await _until(pilot, lambda: type(app.screen).__name__ == "DisksScreen"
                     and app.screen.reply is not None, 10)  # type: ignore[attr-defined]
        assert "Look Linux" in "\n".join(app.screen.query_one("#systems").items)  # type: ignore[attr-defined]
        await pilot.press("q")
        await _until(pilot, lambda: app.bridge is not None and app.bridge.finished.is_set(), 60)
    assert _leftovers(disk.image) == ([], "")


@pytest.mark.root
@pytest.mark.parametrize("wait", [False, True], ids=["at-once", "after-the-look"])
async def test_quitting_on_the_start_screen_leaves_nothing_behind(
        make_disk: Callable[..., BuiltDisk], tmp_path: Path, wait: bool) -> None:
    """q on the start screen, at once (the look just starting) or once the look has found the
    system: no loop device, no mount, and no journal (nothing was recorded) are left."""
    disk = _small_system(make_disk)
    app = _app(disk=str(disk.image), journal_base=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        if wait:
            await _until(pilot, lambda: _found_held(app), 60)
        await pilot.press("q")
        await _until(pilot, lambda: app.return_value is not None, 60)
    assert app.return_value == 0
    assert _leftovers(disk.image) == ([], "")
    journal = tmp_path / "journal"
    assert not journal.exists() or list(journal.iterdir()) == []


@pytest.fixture
def broken_disk(tmp_path: Path) -> Path:
    from rescuetui.lab.scenario import build_scenario
    from rescuetui.lab.scenarios import SCENARIOS

    image = tmp_path / "initramfs-deleted.img"
    build_scenario(SCENARIOS["initramfs-deleted"], image, journal_base=tmp_path / "build")
    return image


def _leftovers(image: Path) -> tuple[list[str], str]:
    """Mounts of the image's loop devices, and those devices. (Not every mount below the
    state directory: other sessions on the machine mount there too.)"""
    loops = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True,
                           check=False).stdout
    devices = tuple(line.split(":")[0] for line in loops.splitlines())
    mounts = [line for line in Path("/proc/mounts").read_text().splitlines()
              if devices and line.split()[0].startswith(devices)]
    return mounts, loops


@pytest.mark.root
@pytest.mark.slow
async def test_whole_flow_rebuilds_the_initramfs_in_seven_keys(broken_disk: Path,
                                                                 tmp_path: Path) -> None:
    """Enter x6 and y: start, system, mount, evidence (own logs), diagnosis, decision tree,
    apply the fix. Every keystroke the operator makes is counted by the app."""
    app = _app(disk=str(broken_disk), journal_base=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        for screen_name, key in (("StartScreen", "enter"), ("DisksScreen", "enter"),
                                 ("MountScreen", "enter"), ("EvidenceScreen", "enter")):
            await _until(pilot, lambda n=screen_name: type(app.screen).__name__ == n
                         and getattr(app.screen, "reply", True) is not None)
            await pilot.press(key)
        await _until(pilot, lambda: isinstance(app.screen, EvidenceScreen)
                     and app.screen.diagnosed_reply is not None)
        await pilot.press("enter")
        await _until(pilot, lambda: isinstance(app.screen, TreeScreen)
                     and app.screen.pending_fix is not None)
        assert "FIX initramfs" in _text(app)
        await pilot.press("enter")
        await _until(pilot, lambda: isinstance(app.screen, FixScreen)
                     and app.screen.reply is not None)
        assert "update-initramfs -c -k" in _text(app)
        await pilot.press("y")
        await _until(pilot, lambda: isinstance(app.screen, FixScreen) and app.screen.done, 600)
        assert "VERIFIED: initramfs-rebuild" in _text(app)
        assert app.keystrokes == 7
        await pilot.press("enter")
        await _until(pilot, lambda: isinstance(app.screen, ReportScreen))
        assert "REPAIRED" in _text(app)
        await pilot.press("q")
    assert app.return_value == 0
    journal_dir = next((tmp_path / "journal").iterdir())
    records = Journal.open(journal_dir).records()
    commands = [r["argv"] for r in records if r["kind"] == "command"]
    assert any("update-initramfs" in argv for argv in commands), commands
    assert any(r["kind"] == "manifest" and any("initrd.img" in p for p in r["added"])
               for r in records)
    assert (journal_dir / "rca.md").read_text().startswith("# Root cause note")
    assert _leftovers(broken_disk) == ([], "")


@pytest.mark.root
@pytest.mark.slow
async def test_quitting_after_the_mount_takes_everything_down(broken_disk: Path,
                                                              tmp_path: Path) -> None:
    app = _app(disk=str(broken_disk), journal_base=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await _until(pilot, lambda: type(app.screen).__name__ == "DisksScreen"
                     and app.screen.reply is not None)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await _until(pilot, lambda: type(app.screen).__name__ == "MountScreen"
                     and app.screen.reply is not None)  # type: ignore[attr-defined]
        mounts, loops = _leftovers(broken_disk)
        assert mounts and loops  # mounted now
        await pilot.press("escape")  # back to the system list, then forward again
        assert type(app.screen).__name__ == "DisksScreen"
        await pilot.press("enter")
        assert type(app.screen).__name__ == "MountScreen"
        await pilot.press("q")
        await _until(pilot, lambda: app.bridge is not None and app.bridge.finished.is_set(), 60)
    assert _leftovers(broken_disk) == ([], "")


@pytest.mark.root
@pytest.mark.slow
async def test_pasted_panic_text_is_classified_and_an_answer_is_journaled(
        broken_disk: Path, tmp_path: Path) -> None:
    """The operator pastes the console text (as a terminal sends a paste), F2 ends it; the
    classification shows with its evidence line; the decision tree's question, answered with
    y, is a decision record in the journal."""
    from textual import events
    from textual.widgets import TextArea

    panic = (REPO / "tests/data/serial/initramfs-deleted.log").read_text(errors="replace")
    app = _app(disk=str(broken_disk), journal_base=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        for name in ("DisksScreen", "MountScreen", "EvidenceScreen"):
            await _until(pilot, lambda n=name: type(app.screen).__name__ == n
                         and app.screen.reply is not None)  # type: ignore[attr-defined]
            if name != "EvidenceScreen":
                await pilot.press("enter")
        await pilot.press("down", "enter")  # "Paste the console text"
        area = app.screen.query_one(TextArea)
        area.post_message(events.Paste(panic))
        await pilot.pause(0.5)
        await pilot.press("f2")
        await _until(pilot, lambda: isinstance(app.screen, EvidenceScreen)
                     and app.screen.diagnosed_reply is not None)
        text = _text(app)
        assert "Unable to mount root fs" in text and "vfs-root" in text, text
        await pilot.press("enter")
        await _until(pilot, lambda: isinstance(app.screen, TreeScreen)
                     and app.screen.pending_fix is not None)
        asked = str(app.screen.query_one("#question").render()).strip()
        if asked:
            await pilot.press("y")
        await pilot.press("q")
        await _until(pilot, lambda: app.bridge is not None and app.bridge.finished.is_set(), 60)
    journal_dir = next((tmp_path / "journal").iterdir())
    # Kept beside the journal as the operator pasted it (the text area keeps lines, not CRs).
    saved = (journal_dir / "pasted-console.txt").read_text()
    assert "Unable to mount root fs" in saved and len(saved) > len(panic) // 2
    records = Journal.open(journal_dir).records()
    assert any(r["kind"] == "diagnosis" and r["diagnosis"]["class"] == "vfs-root"
               for r in records)
    if asked:
        assert any(r["kind"] == "decision" and r["answer"] == "yes" for r in records)
    assert _leftovers(broken_disk) == ([], "")


@pytest.mark.root
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_closed_terminal_takes_the_attached_disk_down(
        make_disk: Callable[..., BuiltDisk], tmp_path: Path, sig: signal.Signals) -> None:
    """The disk is attached while the start screen is read; the terminal closing then (a
    serial console's session dropped: SIGHUP) or a kill (SIGTERM) quits as q does, no loop
    device or mount is left, and the exit status is the signal's (128 + its number)."""
    from rescuetui.lab.pty import PtySession

    disk = _small_system(make_disk)
    session = PtySession([rescuetui_exe(), "--disk", str(disk.image), "--journal",
                          str(tmp_path / "journal")], term="vt220")
    try:
        session.read_until_quiet(quiet=0.5, until=b"Enter Start", timeout=60)
        deadline = time.monotonic() + 60
        while not _leftovers(disk.image)[1] and time.monotonic() < deadline:
            session.read_until_quiet(quiet=0.1, timeout=0.3)
        assert _leftovers(disk.image)[1], "the image was not attached while the screen was read"
        os.kill(session.pid, sig)
    finally:
        status = session.close(timeout=60)
    assert _leftovers(disk.image) == ([], "")
    assert status == 128 + sig  # not a success to whatever started it
