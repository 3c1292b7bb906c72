"""The guided TUI on a disk whose root superblock is destroyed: the restore is asked for and
applied first (the root cannot be found without it); then the system is listed as on any
disk. Whether Enter comes at once or once the look made on the start screen waits with its
question: the question is asked only after Enter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_tui import _app, _text, _until

from rescuetui.screens.fix import FixScreen
from rescuetui.screens.tree import TreeScreen

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.mark.parametrize("read_first", [False, True], ids=["enter-at-once", "after-the-look"])
async def test_the_restore_comes_before_the_system_list(tmp_path: Path, read_first: bool) -> None:
    from rescuetui.lab.scenario import build_scenario
    from rescuetui.lab.scenarios import SCENARIOS

    image = tmp_path / "root-sb.img"
    build_scenario(SCENARIOS["root-superblock-destroyed"], image, journal_base=tmp_path / "b")
    app = _app(disk=str(image), journal_base=tmp_path / "journal")
    async with app.run_test(size=(80, 24)) as pilot:
        if read_first:  # the look asks for the restore; the question waits for Enter
            await _until(pilot, lambda: any(type(m).__name__ == "ConfirmFix"
                                            for m in app.held or []), 60)
            held_on = type(app.screen).__name__
        await pilot.press("enter")
        seen, previews = [], []  # asserted after run_test: a failure inside it hangs the app
        for _ in range(600):  # the operator's answers, whichever screen asks
            screen = app.screen
            seen.append(type(screen).__name__)
            if type(screen).__name__ == "DisksScreen" and getattr(screen, "reply", None):
                break
            if isinstance(screen, FixScreen) and screen.reply is not None:
                previews.append(_text(app))
                await pilot.press("y")
            elif isinstance(screen, FixScreen) and screen.done:
                await pilot.press("enter")
            elif isinstance(screen, TreeScreen) and screen.pending_fix is not None:
                await pilot.press("enter")
            await pilot.pause(0.2)
        listing = _text(app)
        found = [c.device.path for c in getattr(app.screen, "candidates", [])]
        await pilot.press("q")
        # Leave run_test only once the repair thread has unwound (as test_tui's tests do).
        await _until(pilot, lambda: app.bridge is not None and app.bridge.finished.is_set(), 60)
    if read_first:
        assert held_on == "StartScreen"
    assert any("e2fsck -f -y -b 32768 -B 4096" in text for text in previews), previews
    assert "Installed systems" in listing and len(found) == 1, (seen, listing)
    assert found[0].endswith("p2")  # the root whose superblock was restored
    journal = next((tmp_path / "journal").iterdir()) / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert any(r["kind"] == "command" and r["argv"][:2] == ["e2fsck", "-f"]
               and "32768" in r["argv"] for r in records)
    assert any(r["kind"] == "check" and r["check"] == "superblock" and r["ok"] for r in records)
