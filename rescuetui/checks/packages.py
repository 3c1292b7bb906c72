"""Which package owns a file, read from the package database on the disk itself (no chroot
needed, so it works when nothing in the chroot can run)."""

from __future__ import annotations

from pathlib import Path

from rescuetui.checks.base import TargetContext


def debian_owner(ctx: TargetContext, name: str) -> tuple[str, str] | None:
    """(package, path) owning a file; `name` is a path or a bare file name. dpkg's file lists
    name paths as installed (/lib/... on merged-/usr systems too), so both forms are tried."""
    info = ctx.path("/var/lib/dpkg/info")
    if not info.is_dir():
        return None
    wanted = {name} if name.startswith("/") else set()
    if name.startswith("/usr/"):
        wanted.add(name[4:])
    elif name.startswith("/"):
        wanted.add("/usr" + name)
    for listing in sorted(info.glob("*.list")):
        for line in listing.read_text(errors="replace").splitlines():
            if line in wanted or (not name.startswith("/") and line.endswith("/" + name)):
                return listing.stem.split(":")[0], line
    return None


def cached_deb(ctx: TargetContext, package: str) -> Path | None:
    """The package's .deb in the target's apt cache, for the installed version if known."""
    archives = ctx.path("/var/cache/apt/archives")
    found = sorted(archives.glob(f"{package}_*.deb")) if archives.is_dir() else []
    return found[-1] if found else None
