"""F1 / ?: help for the step on screen (and, when practising, its hint)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen

from rescuetui.widgets.shown import Shown


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 76; height: auto; max-height: 20; border: solid $primary;
                                  background: $background; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,enter,f1,question_mark,q", "close", "Close")]

    def __init__(self, title: str, text: str, hint: str = "") -> None:
        super().__init__()
        self.help_title, self.text, self.hint_text = title, text, hint

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Shown(f"Help: {self.help_title}")
            yield Shown(self.text)
            if self.hint_text:
                yield Shown("Hint: " + self.hint_text)
            yield Shown("Esc or Enter closes this.")

    def action_close(self) -> None:
        self.dismiss(None)
