"""Which package owns a file on Arch, read from pacman's local database on the disk: plain text
files (`desc`, `files`) per installed package, so nothing needs to run, on the host or in the
chroot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rescuetui.checks.rpmdb import PACKAGE_NAME
from rescuetui.core.confined import ConfinedRoot

LOCAL = "/var/lib/pacman/local"
MAX_LIST_BYTES = 16 << 20
MAX_PACKAGES = 10000


@dataclass(frozen=True)
class PacmanOwner:
    name: str
    version: str
    path: str  # as the database names it, with the leading /


def _read(files: ConfinedRoot, path: str) -> str:
    found = files.read(path, MAX_LIST_BYTES)
    return found.decode("utf-8", "replace") if found is not None else ""


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
    disk = ConfinedRoot(root)
    for entry in disk.entries(LOCAL)[:MAX_PACKAGES]:
        if not entry.is_dir:  # a link is no package's directory
            continue
        files = sections(_read(disk, f"{entry.path}/files")).get("FILES", [])
        hit = next(("/" + f for f in files if "/" + f in wanted
                    or (basename and f.rsplit("/", 1)[-1] == basename)), None)
        if hit is None:
            continue
        desc = sections(_read(disk, f"{entry.path}/desc"))
        name = (desc.get("NAME") or [""])[0]
        if PACKAGE_NAME.match(name):
            return PacmanOwner(name, (desc.get("VERSION") or [""])[0], hit)
    return None
