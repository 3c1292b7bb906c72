"""Command output, streamed without flooding a serial line: lines are gathered and the view is
redrawn at most every `interval` seconds, showing only the last lines that fit. Each line is
escaped as it comes (a command's output is data: its escape sequences and carriage returns are
shown, never acted on)."""

from __future__ import annotations

import time
from collections import deque

from rescuetui.core.text import shown
from rescuetui.widgets.shown import Shown


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
        self.tail.append(shown(line.replace("\t", "  "), lines=False)[:200])
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
        self.update("\n".join(line[:width] for line in self.tail))
