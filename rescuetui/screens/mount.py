"""Step 3: the system mounted read-only: its fstab tree, what resolved, what is missing."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult

from rescuetui.core.session import MountOutcome
from rescuetui.core.target import TargetSystem
from rescuetui.core.text import printable
from rescuetui.screens.base import FlowScreen
from rescuetui.widgets.shown import Shown
from rescuetui.widgets.stream_log import StreamLog

MARK = {"mounted": "ok  ", "skipped": "skip", "missing": "MISS", "failed": "FAIL"}


def tree_lines(target: TargetSystem, tree: list[MountOutcome]) -> list[str]:
    kernels = ", ".join(printable(k.version) + ("" if k.initramfs_size is not None
                                                else " (no initramfs)")
                        for k in target.kernels) or "none"
    lines = [f"{printable(target.os_release.get('PRETTY_NAME', 'Linux'))} on "
             f"{printable(target.device)} ({printable(target.fstype or '-')}), "
             f"{target.boot_mode} boot",
             f"Kernels: {kernels}", "", "fstab tree:",
             f"  {'ok':4} {'/':12} {printable(target.device)} (read-only)"]
    for outcome in tree:
        entry = outcome.entry
        device = printable(entry.device or entry.entry.spec)
        note = f"  {printable(outcome.message or entry.note)}" if outcome.problem else ""
        lines.append(f"  {MARK.get(outcome.status, outcome.status):4} "
                     f"{printable(entry.entry.mountpoint):12} {device}{note}")
    return lines


class MountScreen(FlowScreen):
    STEP = 3
    HELP = ("Before mounting, each filesystem is checked unmounted (e2fsck -n, xfs_repair -n); "
            "damage is repaired only with your confirmation. Then the root is mounted read-only "
            "with every fstab entry under it; a missing device is shown, not fatal. The disk "
            "becomes writable only when a fix you confirmed needs it.")

    def __init__(self) -> None:
        super().__init__()
        self.reply: Any = None

    def body(self) -> ComposeResult:
        yield Shown("Checking the filesystems unmounted, then mounting read-only...",
                     id="tree")
        yield StreamLog(lines=6, interval=self.rescue.redraw_interval, id="output")
        if self.hint():
            yield Shown("Hint: " + self.hint(), classes="hint")

    def show_mounted(self, target: TargetSystem, tree: list[MountOutcome], reply: Any) -> None:
        self.reply = reply
        lines = tree_lines(target, tree) + ["", "Enter: read the evidence."]
        self.query_one("#tree", Shown).update("\n".join(lines))

    def action_proceed(self) -> None:
        if self.reply is None:
            self.rescue.forward()
            return
        reply, self.reply = self.reply, None
        self.rescue.show_step("evidence")
        reply(None)
