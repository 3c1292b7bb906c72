"""A list to choose from that costs few bytes on a serial line.

Textual's ListView repaints every item when the highlight moves; over a 115200-baud console
that is a kilobyte and more per arrow key. This list draws its lines itself and, when the
highlight moves, refreshes only the two lines that changed. Its lines go to the terminal as
segments, unread by any markup parser: each item is escaped when it is set (core.text.shown).
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from rescuetui.core.text import shown


class MenuList(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    MenuList { height: auto; max-height: 12; scrollbar-size: 0 0; }
    MenuList > .menu-list--highlight { background: $primary; color: $text; text-style: bold; }
    """
    COMPONENT_CLASSES = {"menu-list--highlight"}
    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("enter", "choose", "Choose", show=False),
    ]

    class Chosen(Message):
        def __init__(self, menu: MenuList, index: int) -> None:
            super().__init__()
            self.menu, self.index = menu, index

    class Moved(Message):
        def __init__(self, menu: MenuList, index: int) -> None:
            super().__init__()
            self.menu, self.index = menu, index

    def __init__(self, items: list[str], *, index: int = 0, id: str | None = None) -> None:
        super().__init__(id=id)
        self.items = [shown(item, lines=False) for item in items]
        self.index = min(max(index, 0), max(len(items) - 1, 0))
        self.virtual_size = Size(0, len(self.items))

    def set_items(self, items: list[str], index: int = 0) -> None:
        self.items = [shown(item, lines=False) for item in items]
        self.index = min(max(index, 0), max(len(items) - 1, 0))
        self.virtual_size = Size(0, len(self.items))
        self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.items)

    def render_line(self, y: int) -> Strip:
        row = y + self.scroll_offset.y
        if row >= len(self.items):
            return Strip.blank(self.size.width)
        chosen = row == self.index
        marker = "> " if chosen else "  "
        text = (marker + self.items[row])[: self.size.width]
        style = self.get_component_rich_style("menu-list--highlight") if chosen else Style()
        return Strip([Segment(text.ljust(self.size.width), style)], self.size.width)

    def _refresh_row(self, row: int) -> None:
        y = row - self.scroll_offset.y
        if 0 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def action_move(self, step: int) -> None:
        if not self.items:
            return
        new = min(max(self.index + step, 0), len(self.items) - 1)
        if new == self.index:
            return
        old, self.index = self.index, new
        if new < self.scroll_offset.y or new >= self.scroll_offset.y + self.size.height:
            self.scroll_to(y=max(0, new - self.size.height + 1) if step > 0 else new,
                           animate=False)
            self.refresh()
        else:
            self._refresh_row(old)
            self._refresh_row(new)
        self.post_message(self.Moved(self, new))

    def action_choose(self) -> None:
        if self.items:
            self.post_message(self.Chosen(self, self.index))
