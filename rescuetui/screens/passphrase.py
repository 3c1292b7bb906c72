"""The passphrase of a LUKS device on the disk, asked when no key file was given. The field is
a password field (nothing echoed, on a serial line either); the answer goes to the engine,
which hands it to cryptsetup and keeps it nowhere (never journaled). Esc leaves the device
locked: the repair goes on without what is on it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input

from rescuetui.widgets.shown import SafeInput, Shown


class PassphraseScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PassphraseScreen { align: center middle; }
    PassphraseScreen > Vertical { width: 76; height: auto; border: solid $primary;
                                  background: $background; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "leave_locked", "Leave locked")]

    def __init__(self, device: str) -> None:
        super().__init__()
        self.device = device

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Shown(f"{self.device} is encrypted (LUKS). Its passphrase unlocks it for "
                        "this session; it is not stored or journaled.")
            yield SafeInput(password=True, placeholder="passphrase", id="passphrase")
            yield Shown("Enter unlocks. Esc leaves it locked.")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value
        event.input.value = ""
        self.dismiss(value or None)

    def action_leave_locked(self) -> None:
        self.dismiss(None)
