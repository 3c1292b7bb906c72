"""Paths inside a mounted target, resolved as the target sees them and never escaping its root."""

from __future__ import annotations

import errno
import os
import stat
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


def read_in_root(root: Path, path: str, limit: int) -> bytes | None:
    """At most `limit` bytes of the regular file `path` of the target mounted at `root`, its
    links followed inside the target only; None when it is missing, not a regular file (a
    FIFO, a device node, a directory: never opened for reading, so never a hang) or a link
    that still points out."""
    try:
        return read_bounded(resolve_in_root(root, path), limit)
    except (OSError, RescueError):  # missing, not a regular file, a link loop
        return None


def read_bounded(host: Path, limit: int) -> bytes:
    """At most `limit` bytes of the regular file at `host` (a path already resolved inside a
    target): a link there is not followed and anything but a regular file is not read (a FIFO
    would wait for a writer forever), both raising OSError like a missing file; a huge file
    is cut at `limit`."""
    # O_NOFOLLOW: resolve_in_root left no link in the path, but one swapped in since is not
    # followed; O_NONBLOCK: opening a FIFO does not wait for a writer.
    fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(host))
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
