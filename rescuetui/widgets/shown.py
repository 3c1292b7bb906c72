"""The one way text reaches the screen: strings from a disk or a command (labels, os-release,
fstab fields, log lines, command output) arrive with every character that could act on the
terminal escaped (core.text.shown) and any markup in them shown as the text it is, never
interpreted (`[@click=app.quit]` from a disk label is a label, not a link).

Every widget of the TUI that shows text is one of these (a test walks the screens for any
other): `Shown` for text, `SafeTextArea` and `SafeInput` for what the operator pastes (a
console copied from a broken machine carries its escape sequences)."""

from __future__ import annotations

from rich.text import Span, Text
from textual import events
from textual.widgets import Input, Static, TextArea

from rescuetui.core.text import shown, without_controls


def safe(content: str | Text, *, lines: bool = True) -> str | Text:
    """`content` escaped for the screen; a Rich Text keeps its styles, moved with the text
    each escaped character grows into."""
    if isinstance(content, str):
        return shown(content, lines=lines)
    text = content.copy()
    text.expand_tabs(8)
    plain = text.plain
    if shown(plain, lines=lines) == plain:
        return text
    starts = [0]
    pieces: list[str] = []
    for ch in plain:
        pieces.append(shown(ch, lines=lines))
        starts.append(starts[-1] + len(pieces[-1]))
    out = Text("".join(pieces), style=text.style, justify=text.justify,
               overflow=text.overflow, no_wrap=text.no_wrap, end=text.end)
    end = len(plain)
    out.spans = [Span(starts[min(s.start, end)], starts[min(s.end, end)], s.style)
                 for s in text.spans]
    return out


class Shown(Static):
    """A Static that shows its content literally: escaped, and never read as markup."""

    def __init__(self, content: str | Text = "", *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(safe(content), id=id, classes=classes, markup=False)

    def update(self, content: str | Text = "", *, layout: bool = True) -> None:  # type: ignore[override]
        super().update(safe(content), layout=layout)


def pasted(text: str) -> str:
    """Pasted text as the field keeps it: lines, tabs and carriage returns as they are (the
    field makes lines of them), every other control and format character escaped."""
    return without_controls(text, keep="\n\t\r")


class SafeTextArea(TextArea):
    async def _on_paste(self, event: events.Paste) -> None:
        event.text = pasted(event.text)
        await super()._on_paste(event)


class SafeInput(Input):
    def _on_paste(self, event: events.Paste) -> None:
        event.text = pasted(event.text)
        super()._on_paste(event)
