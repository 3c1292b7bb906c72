"""Step 5: the way through the decision tree so far, the current node explained in plain
language, its question for the operator, and the checks that ran with what they found."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding

from rescuetui.checks.base import Finding
from rescuetui.core.text import shown
from rescuetui.diagnose.tree import NODES
from rescuetui.screens.base import FlowScreen
from rescuetui.widgets.shown import Shown


def path_text(path: list[str]) -> Text:
    text = Text()
    if not path:
        text.append("No console text named the failure: every check boot needs runs.\n")
        return text
    for n, node_id in enumerate(path):
        node = NODES[node_id]
        last = n == len(path) - 1
        text.append(("  " * n) + ("+-" if n else "") + node.title + "\n",
                    style="bold" if last else "")
    node = NODES[path[-1]]
    text.append("\n" + node.explanation + "\n")
    return text


def findings_text(findings: list[Finding]) -> Text:
    """Problems one per line with what was found; the checks that passed on one line."""
    text = Text()
    for f in findings:
        if not f.ok:
            text.append("FIX ", style="bold red")
            # A summary quotes the disk (a path, an fstab field, a label): one line, escaped.
            text.append(f"{shown(f.check, lines=False)}: "
                        f"{shown(f.summary, lines=False)[:240]}\n")
    passed = [f.check for f in findings if f.ok]
    if passed:
        text.append("ok  ", style="green")
        text.append(shown(", ".join(passed), lines=False) + "\n")
    return text


class TreeScreen(FlowScreen):
    STEP = 5
    HELP = ("The decision tree goes from the kind of failure to its fix; the evidence settles "
            "branches where it can, the checks settle the rest by looking at the disk. A check "
            "marked FIX found a problem; its fix is shown next, before anything runs. Where "
            "you know more than the logs (a recent update?), answer the question: it is "
            "recorded in the journal.")
    BINDINGS = [Binding("y", "answer('yes')", "Yes", show=False),
                Binding("n", "answer('no')", "No", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.path: list[str] = []
        self.findings: list[Finding] = []
        self.pending_fix: Any = None
        self.answer = ""

    def body(self) -> ComposeResult:
        yield Shown("", id="path")
        yield Shown("", id="question")
        yield Shown("Running the checks...", id="findings")
        yield Shown("", id="next")
        if self.hint():
            yield Shown("Hint: " + self.hint(), classes="hint")

    def on_mount(self) -> None:
        self._draw()

    def _draw(self) -> None:
        """Shows the state; the screen may get it before it is first shown."""
        if not self.query("#path"):  # not composed yet: on_mount draws it
            return
        self.query_one("#path", Shown).update(path_text(self.path))
        question = self._question()
        if question:
            answer = f"{self.answer} (recorded)" if self.answer else "(y / n)"
            self.query_one("#question", Shown).update(f"{question}  {answer}")
        if self.findings:
            self.query_one("#findings", Shown).update(findings_text(self.findings))
        if self.pending_fix is not None:
            self.query_one("#next", Shown).update(
                f"Proposed fix: {shown(self.pending_fix.fix, lines=False)}. "
                "Enter shows what it will do.")

    def _question(self) -> str | None:
        return next((NODES[n].question for n in self.path if NODES[n].question), None)

    def show_path(self, path: list[str]) -> None:
        self.path = path
        self._draw()

    def action_answer(self, answer: str) -> None:
        question = self._question()
        if not question or self.answer:
            return
        self.answer = answer
        self.rescue.record_answer(question, answer)
        self._draw()

    def show_findings(self, findings: list[Finding]) -> None:
        self.findings = findings
        self._draw()

    def fix_waiting(self, plan: Any) -> None:
        self.pending_fix = plan
        self._draw()

    def action_proceed(self) -> None:
        if self.pending_fix is not None:
            self.pending_fix = None
            self.query_one("#next", Shown).update("")
            self.rescue.show_step("fix")
        else:
            self.rescue.forward()
