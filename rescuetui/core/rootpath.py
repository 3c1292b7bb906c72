"""Host paths of a target's files, for the practice lab only: product code uses core/confined.py.

rescuetui/lab/ builds practice disks from our own tree and names their files by host path. A
host path handed on and opened by name later can be swapped for a link in between; the rest of
rescuetui never holds one (tests/test_confinement_ast.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from rescuetui.core.confined import follow_links


def resolve_in_root(root: Path, path: str, *, follow_last: bool = True) -> Path:
    """The host path of `path` as the target sees it, as if chroot'ed into `root`.

    Symbolic links are followed with `root` as `/`, so an absolute link in the target
    (`/etc/resolv.conf -> /run/...`) stays inside the target instead of reaching the rescue
    system's own files, and `..` never climbs above `root`. A missing component ends resolution:
    the rest is appended as it is.
    """

    def readlink(inside: str) -> str | None:
        candidate = root / inside.lstrip("/")
        return os.readlink(candidate) if candidate.is_symlink() else None

    return root / follow_links(path, readlink, follow_last=follow_last, strict=True).lstrip("/")


def target_path(root: Path, host_path: Path) -> str:
    """The path the target sees for a host path below `root`."""
    return "/" + str(host_path.relative_to(root)).lstrip(".")
