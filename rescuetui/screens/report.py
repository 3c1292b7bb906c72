"""Step 7: what was found and done, the journal, how to undo each change, and the root cause
note written next to the journal. In practice mode, the practice disk boots under qemu here
and its serial console shows whether it reaches login."""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding

from rescuetui.core.text import shown
from rescuetui.fixes.workflow import RepairReport
from rescuetui.screens.base import FlowScreen
from rescuetui.widgets.shown import Shown
from rescuetui.widgets.stream_log import StreamLog


def _line(text: object, limit: int = 0) -> str:
    """One field of the report on one line: the report quotes the disk and its logs."""
    line = shown(str(text), lines=False)
    return line[:limit] if limit else line


def report_text(report: RepairReport) -> Text:
    data = report.to_json()
    text = Text()
    status = {0: "REPAIRED", 3: "NOTHING TO REPAIR", 5: "A FIX FAILED", 6: "SOME FIXES REFUSED",
              7: "DRY RUN: FIXES WOULD APPLY"}
    text.append(f"{status.get(report.status, report.status)}\n", style="bold")
    if data["diagnosis"]:
        text.append(f"Found: {_line(data['diagnosis']['title'])}\n")
    for applied in data["applied"]:
        state = "would apply (dry run)" if applied.get("would_apply") else (
            "verified" if applied["verified"] else (
                "replaced" if applied.get("superseded_by") else "NOT verified"))
        text.append(f"  {_line(applied['fix'])}: {state}\n")
        if applied["plan"]["undo"]:
            text.append(f"    undo: {_line(applied['plan']['undo'], 160)}\n", style="dim")
    for refused in data["refused"]:
        text.append(f"  not applied: {_line(refused, 160)}\n")
    for remaining in data["remaining"]:
        text.append(f"  still wrong: {_line(remaining['summary'], 160)}\n", style="red")
    text.append(f"Journal: {_line(report.journal)}\n")
    text.append(f"Undo everything: rescuetui undo --session {_line(report.journal)}\n")
    if report.rca:
        text.append(f"Root cause note: {_line(report.rca)}\n")
    return text


class ReportScreen(FlowScreen):
    STEP = 7
    HELP = ("The journal holds every check, decision, command, output and file change with its "
            "backup. `rescuetui undo --session DIR` restores the files (a single change by its "
            "number); package operations are listed with how to reverse them. rca.md beside "
            "the journal is the root cause note for the ticket.")
    KEYS = [("q", "Quit"), ("F1", "Help")]
    BINDINGS = [Binding("b", "boot", "Boot", show=False)]

    def __init__(self, report: RepairReport | None, error: str = "") -> None:
        super().__init__()
        self.report, self.error = report, error
        self.booting = False

    def body(self) -> ComposeResult:
        if self.report is None:
            yield Shown(Text("Stopped: " + shown(self.error), style="bold red"), id="summary")
        else:
            yield Shown(report_text(self.report), id="summary")
        if self.rescue.practice:
            yield Shown("b boots the practice disk under qemu: does it reach login now?",
                         id="boot")
            yield StreamLog(lines=6, interval=self.rescue.redraw_interval, id="output")
        if self.hint():
            yield Shown("Hint: " + self.hint(), classes="hint")

    def on_mount(self) -> None:
        if self.rescue.practice:
            self.rescue.show_keys([("b", "Boot it"), ("q", "Quit"), ("F1", "Help")])

    def action_boot(self) -> None:
        if not self.rescue.practice or self.booting or self.rescue.disk is None:
            return
        self.booting = True
        self.run_worker(self._boot(), exclusive=True)

    async def _boot(self) -> None:
        from rescuetui.lab.boot import boot_async

        line = self.query_one("#boot", Shown)
        log = self.query_one("#output", StreamLog)
        line.update("Booting the practice disk under qemu (half a minute or more)...")
        start = time.monotonic()

        def show(text: str) -> None:
            for console_line in text.splitlines():
                if console_line.strip():
                    log.write(console_line)

        from rescuetui.lab.scenarios import SCENARIOS

        scenario = SCENARIOS.get(self.rescue.practice or "")
        result = await boot_async(Path(self.rescue.disk or ""), on_text=show,
                                  firmware=scenario.firmware if scenario else "bios")
        log.flush()
        line.update(f"Boot: {_line(result.outcome)} after {result.seconds:.0f} s "
                    f"({_line(result.evidence)})\n"
                    + self.rescue.training_summary(time.monotonic() - start))
