"""A mount point inside a target, held by a descriptor so that no link can move a mount onto the host."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rescuetui.core.confined import ConfinedRoot


@dataclass(frozen=True)
class HeldPath:
    """A target's directory (or file) opened O_PATH inside its root."""

    via: str  # /proc/self/fd/N: what mount(2) is given, so it acts on this very inode
    host: Path  # where that is on the host: what the mount stack records, for teardown
    st: os.stat_result


@contextlib.contextmanager
def held_inside(root: Path, path: str, *, directory: bool = True) -> Iterator[HeldPath]:
    """The target path `path` of the system mounted at `root`, resolved inside its root
    (core/confined.py) and held open while the caller mounts onto or from it.

    A mount point is a path the disk names (fstab), and the disk may have planted a link there
    (`/boot -> /etc` of the host): mounting onto the descriptor's `/proc/self/fd/N` instead of
    the path by name puts the mount on the directory resolved inside the target, whatever link
    is swapped in meanwhile (runc's technique for a container's mount points). OSError when the
    path is missing or, with `directory`, not a directory.
    """
    flags = os.O_PATH | (os.O_DIRECTORY if directory else 0)
    with ConfinedRoot(root).fd(path, flags) as fd:
        via = f"/proc/self/fd/{fd}"
        host = os.readlink(via)
        top = os.path.realpath(root).rstrip("/")
        if host != top and not host.startswith(top + "/"):  # never, with RESOLVE_IN_ROOT
            raise OSError(errno.EXDEV, "the path resolves outside the target's root", path)
        yield HeldPath(via, Path(host), os.fstat(fd))
