"""GRUB menus as grub.cfg writes them: each kernel-loading entry with the submenus that hold
it, its titles and ids. GRUB names an entry inside a submenu by the path "Submenu>Entry"."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath

_LINUX_COMMANDS = frozenset({"linux", "linuxefi", "linux16"})


@dataclass(frozen=True)
class MenuEntry:
    """A GRUB menu entry that loads a kernel image: its submenus, outermost first, then itself."""

    titles: tuple[str, ...]
    ids: tuple[str, ...]  # "" where an element has no id
    image: str  # the file name of the image its linux line loads
    params: str = ""  # the rest of its linux line: the kernel command line
    line: int = 0  # the linux line's index in the config (0-based)

    @property
    def title_path(self) -> str:
        return ">".join(self.titles)

    @property
    def id_path(self) -> str:
        return ">".join(i or t for i, t in zip(self.ids, self.titles, strict=True))

    @property
    def rank(self) -> int:
        """Lower is better: a versioned entry, then the top-level one (whose kernel changes on
        every regeneration), then recovery and fallback entries."""
        last = f"{self.ids[-1]} {self.titles[-1]}".lower()
        if "recovery" in last or "fallback" in last:
            return 2
        return 1 if "-simple-" in self.ids[-1] else 0


def grub_menu_entries(text: str) -> list[MenuEntry]:
    """The kernel-loading menu entries of a grub.cfg, with the submenus that hold them."""
    stack: list[tuple[str, str] | None] = []  # (title, id) of menus; None for other blocks
    entries: list[MenuEntry] = []
    for number, raw in enumerate(text.splitlines()):
        line = raw.strip()
        if line == "}":
            if stack:
                stack.pop()
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            words = []
        if words[:1] in (["menuentry"], ["submenu"]) and len(words) > 2 and words[-1] == "{":
            stack.append(_title_and_id(words[1:-1]))
        elif line.endswith("{"):
            stack.append(None)
        elif words[:1] and words[0] in _LINUX_COMMANDS and len(words) > 1 and stack and stack[-1]:
            menus = [m for m in stack if m is not None]
            params = line.split(None, 2)[2] if len(line.split(None, 2)) > 2 else ""
            entries.append(MenuEntry(tuple(t for t, _ in menus), tuple(i for _, i in menus),
                                     PurePosixPath(words[1]).name, params, number))
    return entries


def _title_and_id(args: list[str]) -> tuple[str, str]:
    ident = ""
    for n, arg in enumerate(args[1:], start=1):
        if arg in ("$menuentry_id_option", "--id") and n + 1 < len(args):
            ident = args[n + 1]
        elif arg.startswith("--id="):
            ident = arg.removeprefix("--id=")
    return args[0], ident


def entry_for(entries: list[MenuEntry], image: str) -> MenuEntry | None:
    """The best entry that loads the image file `image` (first of the best rank)."""
    matching = [e for e in entries if e.image == image]
    return min(matching, key=lambda e: e.rank) if matching else None
