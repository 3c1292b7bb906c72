"""Step 1: what rescuetui is about to do, where it runs, which keys to use."""

from __future__ import annotations

from textual.app import ComposeResult

from rescuetui.screens.base import FlowScreen
from rescuetui.terminal import environment
from rescuetui.widgets.shown import Shown


class StartScreen(FlowScreen):
    STEP = 1
    HELP = ("rescuetui finds the broken system's disk, mounts it read-only, reads the evidence "
            "(console text, the system's own logs), checks what boot needs and proposes fixes. "
            "Nothing on the disk changes until you confirm a fix; every change is journaled "
            "with a backup and can be undone (rescuetui undo).")
    KEYS = [("Enter", "Start"), ("F1", "Help"), ("q", "Quit")]

    def body(self) -> ComposeResult:
        env = self.rescue.environment or environment()
        profile = self.rescue.profile
        where = self.rescue.disk or "every attached disk except the rescue system's own"
        lines = [
            "This program will:",
            f"  1. look for an installed Linux system on {where}",
            "  2. check its filesystems unmounted, then mount it read-only",
            "  3. read the evidence: console text and the system's own logs",
            "  4. check what boot needs and show each fix before it runs",
            "  5. apply only what you confirm, journaled, with undo",
            "",
            f"Running from: {env['medium']}, {env['boot']} boot, machine {env['machine']}",
            f"Terminal: {env['console']}, {profile.columns}x{profile.lines}, "
            + ("serial profile (" + profile.reason + ")" if profile.serial else "full colour"),
            "",
            "Keys: arrows move, Enter continues, Esc goes back, F1 or ? helps,",
            "      Ctrl+P lists every action, q quits (mounts are taken down).",
        ]
        yield Shown("\n".join(lines))
        if self.hint():
            yield Shown("Hint: " + self.hint(), classes="hint")

    def action_proceed(self) -> None:
        self.rescue.begin()
