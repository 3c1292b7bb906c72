"""What every step of the guided flow has: a title line with its number, a body, the keys at
the bottom, and a help text (F1 or ?)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen

from rescuetui.widgets.keybar import KeyBar
from rescuetui.widgets.shown import Shown

if TYPE_CHECKING:
    from rescuetui.app import RescueApp

STEPS = ("Start", "Disk and system", "Mount", "Evidence", "Decision tree", "Fix", "Report")


class FlowScreen(Screen[Any]):
    STEP = 0  # 1-based index into STEPS
    # Enter as a binding, not a key_enter method: a key method lets the key go on to the app,
    # which would then check it against the next screen's bindings as well.
    BINDINGS = [Binding("enter", "proceed", "Continue", show=False)]
    HELP = ""
    KEYS: list[tuple[str, str]] = [("Enter", "Continue"), ("Esc", "Back"), ("F1", "Help"),
                                   ("q", "Quit")]
    DEFAULT_CSS = """
    FlowScreen { layout: vertical; }
    FlowScreen > #title { height: 1; background: $primary; color: $text; text-style: bold; }
    FlowScreen > #body { height: 1fr; overflow-y: auto; scrollbar-size: 0 0; }
    FlowScreen .hint { color: $warning; }
    """

    @property
    def rescue(self) -> RescueApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Shown(self.title_line(), id="title")
        with Vertical(id="body"):
            yield from self.body()
        yield KeyBar(self.KEYS, id="keys")

    def title_line(self) -> str:
        mode = "  [practice]" if self.rescue.practice else ""
        return f" rescuetui  {self.STEP}/{len(STEPS)} {STEPS[self.STEP - 1]}{mode}"

    def body(self) -> ComposeResult:
        yield from ()

    def action_proceed(self) -> None:
        self.rescue.forward()

    def hint(self) -> str:
        """The training hint for this step (practice mode), or nothing."""
        return self.rescue.hint_for(self.STEP)
