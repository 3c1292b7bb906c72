"""Every command that opens a disk takes --key-file, --passphrase-stdin and --assemble-raid
(once only `run` and `shell` did, while messages told every command's user to pass them), and
the TUI asks for a LUKS passphrase in a password field. On a real LUKS image: this host's
kernel has no device-mapper, so an unlock ends in the message that says so; what is proven
here is that the key reaches the unlock (and without one, the message says how to give it)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import rescuetui
from textual.app import App

from rescuetui.cli import build_parser
from rescuetui.core.session import RescueSession
from rescuetui.core.volumes import device_mapper_available
from rescuetui.screens.passphrase import PassphraseScreen

DISK_COMMANDS = {"scan": [], "diagnose": [], "repair": ["--disk", "d"], "undo": [],
                 "run": ["--", "true"], "shell": []}


@pytest.mark.parametrize("command", sorted(DISK_COMMANDS))
def test_every_disk_command_takes_the_volume_options(command: str) -> None:
    tail = DISK_COMMANDS[command]
    argv = [command, "--key-file", "/k", "--passphrase-stdin", "--assemble-raid"]
    if tail[:1] == ["--"]:
        argv += tail
    else:
        argv = [*argv[:1], *tail, *argv[1:]]
    args = build_parser().parse_args(argv)
    assert args.key_file == Path("/k") and args.passphrase_stdin and args.assemble_raid


def test_the_tui_takes_a_key_file_and_raid() -> None:
    args = build_parser().parse_args(["--disk", "d", "--key-file", "/k", "--assemble-raid"])
    assert args.command is None and args.key_file == Path("/k") and args.assemble_raid


@pytest.fixture
def luks_image(tmp_path: Path) -> Path:
    image = tmp_path / "luks.img"
    with open(image, "wb") as f:
        f.truncate(40 << 20)
    subprocess.run(["cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf",
                    "pbkdf2", "--pbkdf-force-iterations", "1000", str(image), "--key-file", "-"],
                   input=b"secret", check=True)
    return image


def _said_about_luks(notes: list[str]) -> str:
    return next(n for n in notes if "LUKS" in n or "device-mapper" in n or "passphrase" in n)


def test_scan_and_repair_pass_the_passphrase_on(luks_image: Path, tmp_path: Path) -> None:
    locked = json.loads(rescuetui("scan", "--disk", str(luks_image), "--json").stdout)
    assert "--key-file or --passphrase-stdin" in _said_about_luks(locked["notes"])
    given = json.loads(rescuetui("scan", "--disk", str(luks_image), "--json",
                                 "--passphrase-stdin", input=b"secret\n").stdout)
    said = _said_about_luks(given["notes"])
    assert "--key-file or" not in said
    if not device_mapper_available():
        assert "device-mapper" in said
    out = rescuetui("repair", "--disk", str(luks_image), "--passphrase-stdin", "--json",
                    "--journal", str(tmp_path / "j"), input=b"secret\n")
    assert b"--key-file or --passphrase-stdin" not in out.stderr + out.stdout
    empty = rescuetui("scan", "--disk", str(luks_image), "--passphrase-stdin", input=b"")
    assert empty.returncode == 1 and b"gave no passphrase" in empty.stderr


def test_the_sessions_prompt_is_asked_for_each_locked_device(luks_image: Path) -> None:
    asked: list[str] = []

    def ask(device: str) -> bytes:
        asked.append(device)
        return b"secret"

    with RescueSession(record=False) as session:
        session.unlock_with(ask=ask)
        session.attach(str(luks_image))
        assert len(asked) == 1 and asked[0].startswith("/dev/loop")
        assert not any("--key-file or" in n for n in session.notes)


def test_opening_a_volume_waits_for_the_go_and_a_plain_disk_never_asks(
        luks_image: Path, tmp_path: Path) -> None:
    """The TUI looks at the disk while its start screen is read; opening a volume changes the
    disk (an md assembly writes superblocks, an imported LVM copy is renamed until teardown),
    so the session calls `before_opening` first, once: the TUI waits there for Enter."""
    events: list[str] = []
    with RescueSession(record=False) as session:
        session.unlock_with(passphrase=b"secret", before_opening=lambda: events.append("go?"))
        session.attach(str(luks_image))
        assert events == ["go?"]
    plain = tmp_path / "plain.img"
    with open(plain, "wb") as f:
        f.truncate(16 << 20)
    subprocess.run(["sfdisk", "-q", str(plain)], input=b"label: gpt\n,\n", check=True)
    with RescueSession(record=False) as session:
        session.unlock_with(before_opening=lambda: events.append("plain"))
        session.attach(str(plain))
    assert events == ["go?"]


def test_the_bridge_holds_the_look_ahead_until_the_operator_starts() -> None:
    import threading

    from rescuetui.screens.bridge import Cancelled, FlowBridge

    bridge = FlowBridge(App(), "disk.img")
    passed = threading.Event()
    worker = threading.Thread(target=lambda: (bridge.wait_for_go(), passed.set()))
    worker.start()
    assert not passed.wait(0.3)
    bridge.go()
    assert passed.wait(5)
    worker.join()
    quitting = FlowBridge(App(), "disk.img")
    quitting.cancel()
    with pytest.raises(Cancelled):
        quitting.wait_for_go()


class _Asks(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.answer: str | None = "unset"

    def on_mount(self) -> None:
        self.push_screen(PassphraseScreen("/dev/vdb3"), self._got)

    def _got(self, answer: str | None) -> None:
        self.answer = answer


@pytest.mark.asyncio
async def test_the_tui_prompt_echoes_nothing_and_answers() -> None:
    app = _Asks()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*"hunter2")
        shown = "".join(str(s) for s in app.screen._compositor.render_update(full=True)
                        .render_segments(app.console))  # what reaches the terminal
        assert "hunter2" not in shown and "/dev/vdb3" in shown
        await pilot.press("enter")
        await pilot.pause()
    assert app.answer == "hunter2"
