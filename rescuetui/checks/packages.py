"""Which package owns a file, read from the package database on the disk itself (no chroot
needed, so it works when nothing in the chroot can run): dpkg's file lists, the RPM database
through the host's rpm, pacman's local database. The family says which one it keeps."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from rescuetui.checks.base import TargetContext
from rescuetui.checks.pacmandb import pacman_owner
from rescuetui.checks.rpmdb import rpm_database
from rescuetui.core import debversion

# The soname capability rpm records for a library of a 64-bit architecture.
RPM_LIB64 = "()(64bit)"
DPKG_INFO = "/var/lib/dpkg/info"
DPKG_STATUS = "/var/lib/dpkg/status"
MAX_STATUS_BYTES = 64 << 20  # dpkg's status of a large system is a few MiB
APT_ARCHIVES = "/var/cache/apt/archives"
MAX_LIST_BYTES = 16 << 20  # a package's file list (the kernel's: under 1 MiB)


@dataclass(frozen=True)
class Owner:
    package: str  # the name a package manager takes
    path: str  # the file as the database names it
    exact: str  # the installed package exactly (rpm: name-version-release), else the name


def spellings(path: str) -> list[str]:
    """The same file under merged /usr: databases name either /lib/... or /usr/lib/..."""
    if path.startswith("/usr/"):
        return [path, path[4:]]
    return [path, "/usr" + path] if path.startswith("/") else [path]


def really_missing(ctx: TargetContext, path: str) -> str:
    """The path, in the target, of the file `path` leads to: its links followed inside the
    root (/sbin/init -> /lib/systemd/systemd), so that a dangling link names what is gone."""
    return ctx.files.leads_to(path)


def debian_owner(ctx: TargetContext, name: str) -> tuple[str, str] | None:
    """(package, path) owning a file; `name` is a path or a bare file name. dpkg's file lists
    name paths as installed (/lib/... on merged-/usr systems too), so both forms are tried."""
    wanted = set(spellings(name)) if name.startswith("/") else set()
    for listing in ctx.files.entries(DPKG_INFO):
        if not listing.is_file or not listing.name.endswith(".list"):
            continue
        text = ctx.files.read(listing.path, MAX_LIST_BYTES)
        for line in (text or b"").decode("utf-8", "replace").splitlines():
            if line in wanted or (not name.startswith("/") and line.endswith("/" + name)):
                return listing.name.removesuffix(".list").split(":")[0], line
    return None


def owners(ctx: TargetContext, names: Iterable[str]) -> dict[str, Owner]:
    """The owner of each of `names` (paths, or bare library names as ldd reports them) that
    the target's package database knows."""
    family = ctx.family
    names = list(dict.fromkeys(names))
    found: dict[str, Owner] = {}
    if family is None or not names:
        return found
    if family.package_db == "dpkg":
        for name in names:
            if owner := debian_owner(ctx, name):
                found[name] = Owner(owner[0], owner[1], owner[0])
    elif family.package_db == "rpm":
        with rpm_database(ctx.root) as db:
            for name in names if db is not None else ():
                assert db is not None
                rpm = (db.owner(*spellings(name)) if name.startswith("/") else
                       db.provider(name + RPM_LIB64) or db.provider(name))
                if rpm is not None:
                    found[name] = Owner(rpm.name, rpm.path, rpm.nvr)
    elif family.package_db == "pacman":
        for name in names:
            wanted = set(spellings(name)) if name.startswith("/") else set()
            pac = pacman_owner(ctx.root, wanted, None if name.startswith("/") else name)
            if pac is not None:
                found[name] = Owner(pac.name, pac.path, pac.name)
    return found


def file_owner(ctx: TargetContext, name: str) -> Owner | None:
    return owners(ctx, [name]).get(name)


def kernel_package(ctx: TargetContext, version: str, image: str | None = None) -> str:
    """The installed package of kernel `version`, exactly (kernel-default-6.4.0-150600.23.7.1,
    not "the kernel"): the database's owner of its image or of its module tree, else the name
    the family builds from the version."""
    image = image or f"/boot/vmlinuz-{version}"
    paths = [image, f"/lib/modules/{version}/vmlinuz", f"/lib/modules/{version}"]
    found = owners(ctx, [really_missing(ctx, p) for p in paths])
    owner = next(iter(found.values()), None)
    if owner is not None:
        return owner.exact
    assert ctx.family is not None
    return ctx.family.kernel_package(version, PurePosixPath(image).name.rpartition("vmlinuz-")[2]
                                     or None)


_status_cache: dict[tuple[str, int, int], dict[str, str]] = {}


def installed_versions(ctx: TargetContext) -> dict[str, str] | None:
    """package -> installed version, from dpkg's status on the disk; None when it cannot be
    read. Cached by the file's size and time (a repair asks for many packages)."""
    st = ctx.files.stat(DPKG_STATUS)
    if st is None:
        return None
    key = (str(ctx.root), st.st_size, st.st_mtime_ns)
    if key in _status_cache:
        return _status_cache[key]
    text = ctx.files.read_text(DPKG_STATUS, MAX_STATUS_BYTES)
    if text is None:
        return None
    versions: dict[str, str] = {}
    package = version = ""
    installed = False
    for line in [*text.splitlines(), ""]:
        if not line:
            if package and version and installed:
                versions[package] = version
            package = version = ""
            installed = False
        elif line.startswith("Package: "):
            package = line[9:].strip()
        elif line.startswith("Version: "):
            version = line[9:].strip()
        elif line.startswith("Status: "):
            installed = line.split()[-1] in ("installed", "half-configured", "unpacked")
    _status_cache.clear()
    _status_cache[key] = versions
    return versions


def deb_version(file_name: str) -> str:
    """The version in an apt cache file name (NAME_VERSION_ARCH.deb; an epoch's colon is
    written %3a)."""
    parts = file_name.removesuffix(".deb").split("_")
    return parts[1].replace("%3a", ":").replace("%3A", ":") if len(parts) == 3 else ""


def cached_deb_path(ctx: TargetContext, package: str) -> str | None:
    """The target path of the .deb of the package's installed version in the target's apt
    cache (a regular file, not a link); None when that version is not cached. Where dpkg's
    status cannot be read, the newest cached version by Debian version order."""
    found = {e.path: deb_version(e.name) for e in ctx.files.entries(APT_ARCHIVES)
             if e.is_file and fnmatch.fnmatchcase(e.name, f"{package}_*.deb")}
    if not found:
        return None
    versions = installed_versions(ctx)
    if versions is not None:
        wanted = versions.get(package)
        return next((path for path, v in sorted(found.items()) if wanted is not None
                     and v and debversion.compare(v, wanted) == 0), None)
    return max(found, key=lambda path: debversion.sort_key(found[path]))


def cached_deb(ctx: TargetContext, package: str) -> str | None:
    """The target path of the package's .deb in the target's apt cache (a regular file, not a
    link); read through its descriptor (checks/package_modes.py), never by a host name."""
    return cached_deb_path(ctx, package)
