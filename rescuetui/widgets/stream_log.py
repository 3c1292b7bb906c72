"""Command output, streamed without flooding a serial line: lines are gathered and the view is
redrawn at most every `interval` seconds, showing only the last rows that fit; a line longer
than the view is wrapped onto more rows, never cut. Each line is escaped as it comes (a
command's output is data: its escape sequences and carriage returns are shown, never acted
on)."""

from __future__ import annotations

import textwrap
import time
from collections import deque

from rescuetui.core.text import shown
from rescuetui.widgets.shown import Shown

MAX_LINE = 2000  # a longer line (binary junk) is shown up to here


def wrapped_rows(lines: list[str], width: int, rows: int) -> list[str]:
    """The last `rows` rows of `lines` wrapped at `width` columns (at spaces where there are
    some; a long word is broken)."""
    out: list[str] = []
    for line in lines:
        out += textwrap.wrap(line, width, break_on_hyphens=False, drop_whitespace=False,
                             replace_whitespace=False) or [""]
    return out[-rows:]


class StreamLog(Shown):
    DEFAULT_CSS = """
    StreamLog { height: 8; color: $text-muted; }
    """

    def __init__(self, *, lines: int = 8, interval: float = 0.25, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.tail: deque[str] = deque(maxlen=lines)
        self.interval = interval
        self._last_draw = 0.0
        self._pending = False

    def write(self, line: str) -> None:
        self.tail.append(shown(line.replace("\t", "  "), lines=False)[:MAX_LINE])
        self._pending = True
        now = time.monotonic()
        if now - self._last_draw >= self.interval:
            self.flush()
        else:
            self.set_timer(self.interval - (now - self._last_draw), self.flush)

    def flush(self) -> None:
        if not self._pending:
            return
        self._pending = False
        self._last_draw = time.monotonic()
        width = max(self.size.width, 20)
        rows = max(self.size.height, 1) if self.size.height else self.tail.maxlen or 8
        self.update("\n".join(wrapped_rows(list(self.tail), width, rows)))
