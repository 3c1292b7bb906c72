"""Step 4: the evidence. Paste the panic text, pick a log file, or use the system's own logs;
the classification then appears with the lines that decided it and the facts they carry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding

from rescuetui.core.text import printable, shown
from rescuetui.diagnose.classifier import Diagnosis
from rescuetui.diagnose.facts import decode_exit_code
from rescuetui.screens.base import FlowScreen
from rescuetui.widgets.menu import MenuList
from rescuetui.widgets.shown import SafeInput, SafeTextArea, Shown

CHOICES = ("Use the system's own logs (journal, kern.log, kdump)",
           "Paste the console text of the failure",
           "Read a log file (serial console log)")


def diagnosis_text(diagnosis: Diagnosis | None, path: list[str]) -> Text:
    if diagnosis is None:
        return Text("No failure found in the evidence: every check that boot needs runs next.")
    facts = diagnosis.facts
    text = Text()
    text.append(f"{diagnosis.title}", style="bold")
    text.append(f"  ({diagnosis.class_id}, boot {diagnosis.boot} of {diagnosis.boots} in "
                f"{printable(Path(diagnosis.source).name)})\n")
    # Every fact below was read out of the console text or a log: data, shown escaped.
    if facts.kernel:
        text.append(f"Kernel: {printable(facts.kernel)}\n")
    if facts.exit_code:
        code = decode_exit_code(facts.exit_code)
        text.append(f"exitcode={printable(facts.exit_code)}: {shown(code['meaning'], lines=False)}\n")
    if facts.modules_in_trace:
        modules = ", ".join(printable(m) for m in facts.modules_in_trace[:3])
        text.append(f"Module in the trace: {modules}\n")
    text.append("Evidence:\n")
    for line in diagnosis.evidence[:6]:
        text.append(f"  {line.number:>6}: ", style="dim")
        text.append(printable(line.text)[:200] + "\n", style="bold yellow")
    return text


class EvidenceScreen(FlowScreen):
    STEP = 4
    HELP = ("The console text of the failed boot says most: a serial log from the hypervisor, "
            "or the panic copied from a screen. Without it, rescuetui reads the system's own "
            "journal and logs. The classification picks the way through the decision tree; "
            "the highlighted lines are what decided it.")
    BINDINGS = [Binding("f2", "paste_done", "Done", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.reply: Any = None
        self.diagnosed_reply: Any = None
        self.journal_dir: Path | None = None

    def body(self) -> ComposeResult:
        given = ", ".join(printable(p.name) for p in self.rescue.logs)
        yield Shown("Where is the evidence?" + (f" (given: {given})" if given else ""),
                     id="question")
        yield MenuList(list(CHOICES), id="choices")
        yield Shown("", id="result")
        if self.hint():
            yield Shown("Hint: " + self.hint(), classes="hint")

    DEFAULT_CSS = """
    EvidenceScreen TextArea { height: 8; }
    """

    def ask(self, journal: Any, reply: Any) -> None:
        self.reply = reply
        self.journal_dir = Path(journal.directory) if journal is not None else None
        self.query_one("#choices", MenuList).focus()

    def on_menu_list_chosen(self, event: MenuList.Chosen) -> None:
        if self.reply is None:
            self.action_proceed()
            return
        if event.index == 0:
            self._answer([])
        elif event.index == 1:
            # Text fields are made when chosen: one waiting on the screen would take keys
            # meant for the menu.
            area = SafeTextArea(id="paste")
            self.query_one("#body").mount(area, before=self.query_one("#result"))
            area.focus()
            self.rescue.show_keys([("F2", "Done"), ("Esc", "Back"), ("F1", "Help")])
        else:
            field = SafeInput(placeholder="/path/to/serial.log", id="logfile")
            self.query_one("#body").mount(field, before=self.query_one("#result"))
            field.focus()

    def action_paste_done(self) -> None:
        text = self.query_one("#paste", SafeTextArea).text
        if not text.strip() or self.reply is None:
            return
        where = (self.journal_dir or Path("/tmp")) / "pasted-console.txt"
        where.write_text(text)
        self._answer([where])

    def on_input_submitted(self, event: SafeInput.Submitted) -> None:
        path = Path(event.value.strip())
        if not path.is_file():
            self.query_one("#result", Shown).update(
                f"{printable(str(path))} is not a readable file; give the full path.")
            return
        self._answer([path])

    def _answer(self, logs: list[Path]) -> None:
        reply, self.reply = self.reply, None
        for widget in self.query("#paste, #logfile"):
            widget.remove()
        self.query_one("#result", Shown).update("Reading the evidence...")
        self.query_one("#choices", MenuList).focus()
        reply(logs)

    def show_diagnosis(self, diagnosis: Diagnosis | None, path: list[str], reply: Any) -> None:
        self.diagnosed_reply = reply
        result = diagnosis_text(diagnosis, path)
        result.append("\nEnter: check the system.")
        self.query_one("#result", Shown).update(result)
        self.rescue.show_keys(self.KEYS)

    def action_proceed(self) -> None:
        if self.reply is not None:
            return  # the menu answers
        if self.diagnosed_reply is None:
            self.rescue.forward()
            return
        reply, self.diagnosed_reply = self.diagnosed_reply, None
        self.rescue.show_step("tree")
        reply(None)
