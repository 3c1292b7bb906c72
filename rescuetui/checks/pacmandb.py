"""Which package owns a file on Arch, read from pacman's local database on the disk: plain text
files (`desc`, `files`) per installed package, so nothing needs to run, on the host or in the
chroot."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rescuetui.checks.rpmdb import PACKAGE_NAME
from rescuetui.core.rootpath import resolve_in_root

LOCAL = "/var/lib/pacman/local"
MAX_LIST_BYTES = 16 << 20
MAX_PACKAGES = 10000


@dataclass(frozen=True)
class PacmanOwner:
    name: str
    version: str
    path: str  # as the database names it, with the leading /


def _read(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        return f.read(MAX_LIST_BYTES).decode("utf-8", "replace")


def sections(text: str) -> dict[str, list[str]]:
    """pacman's database format: %NAME% headers, each followed by its lines up to a blank."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("%") and line.endswith("%") and len(line) > 2:
            current = out.setdefault(line.strip("%"), [])
        elif not line:
            current = None
        elif current is not None:
            current.append(line)
    return out


def pacman_owner(root: Path, wanted: set[str], basename: str | None = None) -> PacmanOwner | None:
    """The package whose %FILES% names one of `wanted` (absolute paths), or, given `basename`
    (a bare library name from ldd), a file of that name."""
    local = resolve_in_root(root, LOCAL)
    if not local.is_dir():
        return None
    for entry in sorted(local.iterdir())[:MAX_PACKAGES]:
        if entry.is_symlink() or not entry.is_dir():
            continue
        files = sections(_read(entry / "files")).get("FILES", [])
        hit = next(("/" + f for f in files if "/" + f in wanted
                    or (basename and f.rsplit("/", 1)[-1] == basename)), None)
        if hit is None:
            continue
        desc = sections(_read(entry / "desc"))
        name = (desc.get("NAME") or [""])[0]
        if PACKAGE_NAME.match(name):
            return PacmanOwner(name, (desc.get("VERSION") or [""])[0], hit)
    return None
