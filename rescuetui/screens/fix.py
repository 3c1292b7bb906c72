"""Step 6: one fix. The preview (why, risk, each command, each file and its diff, undo), an
explicit key to apply it, the commands' output as it streams, then the verification."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding

from rescuetui.checks.base import Finding
from rescuetui.core.text import shown
from rescuetui.fixes.base import FixPlan
from rescuetui.screens.base import FlowScreen
from rescuetui.widgets.shown import SafeInput, Shown
from rescuetui.widgets.stream_log import StreamLog


def _line(text: object) -> str:
    """One field of a plan on one line: plans quote the disk (fstab fields, paths, labels)."""
    return shown(str(text), lines=False)


def preview_text(plan: FixPlan) -> Text:
    text = Text()
    text.append(f"{_line(plan.fix)}\n", style="bold")
    text.append("Why:  ", style="bold")
    text.append(shown(plan.why) + "\n")
    text.append("Risk: ", style="bold")
    text.append(shown(plan.risk) + "\n")
    for n, step in enumerate(plan.steps, start=1):
        where = "chroot" if step.in_chroot else "host"
        text.append(f" {n}. ", style="bold")
        text.append(" ".join(_line(arg) for arg in step.argv) + f"   ({where})\n")
    for edit in plan.edits:
        text.append(f" edit {_line(edit.path)}: {_line(edit.reason)}\n")
    if plan.after_steps_note:
        text.append(f" then: {shown(plan.after_steps_note)}\n")
    for region in plan.regions:
        text.append(f" backed up first: {_line(region.what)} of {_line(plan.disk)} (bytes "
                    f"{region.offset}-{region.offset + region.length - 1})\n")
    if plan.diff:
        for line in plan.diff.splitlines()[:30]:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
            text.append(_line(line) + "\n", style=style)
    if plan.undo:
        text.append("Undo: ", style="bold")
        text.append(shown(plan.undo) + "\n")
    if plan.second_confirmation:
        text.append("DATA LOSS: " + shown(plan.second_confirmation) + "\n", style="bold red")
    return text


class FixScreen(FlowScreen):
    STEP = 6
    HELP = ("Read the preview: why this fix, its risk, every command in order and where it "
            "runs (chroot: inside the broken system; host: on the rescue system), the files it "
            "changes and how to undo it. y applies it, n skips it. A fix that risks data loss "
            "needs YES typed as well. Output streams below; the fix's own check runs again "
            "afterwards to verify it.")
    KEYS = [("y", "Apply"), ("n", "Skip"), ("PgUp/PgDn", "Scroll"), ("F1", "Help"),
            ("q", "Quit")]
    BINDINGS = [Binding("y", "apply", "Apply", show=False),
                Binding("n", "skip", "Skip", show=False),
                Binding("pagedown", "scroll(1)", show=False),
                Binding("pageup", "scroll(-1)", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.plan: FixPlan | None = None
        self.reply: Any = None
        self.state = ""
        self.done = False

    def body(self) -> ComposeResult:
        # What to press, and then what happened, above the preview: a preview longer than a
        # 24-line serial console must not push them out of sight.
        yield Shown("", id="state")
        yield Shown("", id="preview")
        yield StreamLog(lines=6, interval=self.rescue.redraw_interval, id="output")
        if self.hint():
            yield Shown("Hint: " + self.hint(), classes="hint")

    def show_plan(self, plan: FixPlan, reply: Any) -> None:
        self.plan, self.reply = plan, reply
        self.state = "y applies this fix, n skips it."
        self._draw(top=True)

    def on_mount(self) -> None:
        self._draw(top=True)

    def _draw(self, top: bool = False) -> None:
        if not self.query("#preview") or self.plan is None:
            return
        self.query_one("#preview", Shown).update(preview_text(self.plan))
        self.query_one("#state", Shown).update(self.state)
        if top:
            self.query_one("#body").scroll_home(animate=False)
        if self.reply is not None:
            self.rescue.show_keys(self.KEYS)

    def action_scroll(self, pages: int) -> None:
        body = self.query_one("#body")
        body.scroll_to(y=body.scroll_y + pages * max(body.size.height - 2, 1), animate=False)

    def action_apply(self) -> None:
        if self.reply is None or self.plan is None:
            return
        if self.plan.second_confirmation:
            # Made only now: a text field waiting on the screen would take the Enter that
            # brought the operator here as an answer.
            field = SafeInput(placeholder="type YES to accept the data loss", id="second")
            self.query_one("#body").mount(field, before=self.query_one("#state"))
            field.focus()
            return
        self._answer(True)

    def on_input_submitted(self, event: SafeInput.Submitted) -> None:
        event.input.remove()
        self._answer(event.value.strip() == "YES")

    def action_skip(self) -> None:
        if self.reply is not None:
            self.rescue.note_wrong_turn("skipped " + (self.plan.fix if self.plan else "a fix"))
            self._answer(False)

    def _answer(self, yes: bool) -> None:
        reply, self.reply = self.reply, None
        self.state = "Applying..." if yes else "Skipped."
        self._draw()
        reply(yes)

    def show_verified(self, plan: FixPlan, finding: Finding) -> None:
        word = "VERIFIED" if finding.ok else "NOT FIXED"
        self.state = f"{word}: {_line(plan.fix)}: {_line(finding.summary)}"
        self._draw()

    def flow_done(self) -> None:
        self.state += "\nEnter: the report."
        self.done = True
        self._draw()
        self.rescue.show_keys([("Enter", "Report"), ("F1", "Help"), ("q", "Quit")])

    def action_proceed(self) -> None:
        if self.done:
            self.rescue.show_report()
        elif self.reply is None:
            self.rescue.forward()
