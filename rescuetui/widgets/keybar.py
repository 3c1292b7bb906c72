"""The line of keys at the bottom: plain text (Textual's Footer draws glyphs the VGA console
font lacks, and repaints on every focus change)."""

from __future__ import annotations

from rescuetui.widgets.shown import Shown


class KeyBar(Shown):
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $primary; color: $text; }
    """

    def __init__(self, keys: list[tuple[str, str]], id: str | None = None) -> None:
        super().__init__(self.line(keys), id=id)

    @staticmethod
    def line(keys: list[tuple[str, str]]) -> str:
        return " " + "  ".join(f"{key} {what}" for key, what in keys)

    def show_keys(self, keys: list[tuple[str, str]]) -> None:
        self.update(self.line(keys))
