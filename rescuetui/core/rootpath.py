"""Host paths of a target's files, for the practice lab only: product code uses core/confined.py.

rescuetui/lab/ builds practice disks from our own tree and names their files by host path. A
host path handed on and opened by name later can be swapped for a link in between; the rest of
rescuetui never holds one (tests/test_confinement_ast.py). The checks still calling
`TargetContext.path` are being rewritten onto ConfinedRoot in another branch.
"""

from __future__ import annotations

import os
from pathlib import Path

from rescuetui.core.errors import RescueError

MAX_SYMLINKS = 40


def resolve_in_root(root: Path, path: str, *, follow_last: bool = True) -> Path:
    """The host path of `path` as the target sees it, as if chroot'ed into `root`.

    Symbolic links are followed with `root` as `/`, so an absolute link in the target
    (`/etc/resolv.conf -> /run/...`) stays inside the target instead of reaching the rescue
    system's own files, and `..` never climbs above `root`. A missing component ends resolution:
    the rest is appended as it is.
    """
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if (parts or follow_last) and candidate.is_symlink():
            hops += 1
            if hops > MAX_SYMLINKS:
                raise RescueError(f"Too many symbolic links while resolving {path} in {root}.")
            link = os.readlink(candidate)
            if link.startswith("/"):
                resolved = []
            parts = [p for p in link.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def target_path(root: Path, host_path: Path) -> str:
    """The path the target sees for a host path below `root`."""
    return "/" + str(host_path.relative_to(root)).lstrip(".")
