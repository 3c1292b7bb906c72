"""Which package owns a file on an RPM system, asked of the host's rpm reading a copy of the
target's database: nothing from the disk runs, and the chroot need not work at all.

The database is copied first (regular files only, bounded): rpm opens it for writing (sqlite
wants its -shm file, Berkeley DB its environment), which a read-only mount refuses and which a
read must never do to the disk anyway. Output is untrusted text: only lines of the query format
with a well-formed package name count, and an answer is kept only when that package's own file
list names the path (rpm -qf may resolve a path through the host's symlinks, not the target's).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rescuetui.core.confined import ConfinedRoot, write_all

# Where rpm keeps its database: RHEL <= 9, SUSE, Azure Linux; Fedora 36+ and RHEL 10 (where
# /var/lib/rpm is a link to it, resolved inside the target).
DB_DIRS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
MAX_DB_BYTES = 1 << 30
QUERY_TIMEOUT = 60.0
# A package name a package manager may be given: never an option (-...), never a path.
PACKAGE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]{0,200}$")
VERSION_RELEASE = re.compile(r"^[A-Za-z0-9._+~^-]{1,200}$")
FORMAT = "%{NAME}\\t%{VERSION}-%{RELEASE}\\n"


@dataclass(frozen=True)
class RpmOwner:
    name: str  # what a package manager takes: systemd, kernel-default
    nvr: str  # the exact installed package: kernel-default-6.4.0-150600.23.7.1
    path: str  # the path as the database names it


def database_dir(root: Path) -> str | None:
    """The target path of the directory holding the target's RPM database (links followed
    inside the target)."""
    files = ConfinedRoot(root)
    for candidate in DB_DIRS:
        names = files.listdir(candidate)
        if "rpmdb.sqlite" in names or any(n.startswith("Packages") for n in names):
            return files.resolve(candidate)
    return None


def _copy_database(files: ConfinedRoot, source: str, dest: Path) -> bool:
    """The database files, copied without following links (regular files only, read inside
    the target's root); False when there are none or they are bigger than a database can
    sensibly be."""
    total = 0
    copied = False
    for entry in files.entries(source):
        if entry.name.startswith("__db.") or entry.name.startswith(".") or not entry.is_file:
            continue  # Berkeley DB's environment and rpm's lock are not the data; nor a link
        try:
            fd = files.open_regular(entry.path)
        except OSError:
            continue
        try:
            size = os.fstat(fd).st_size
            total += size
            if total > MAX_DB_BYTES:
                return False
            out = os.open(dest / entry.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                          | os.O_CLOEXEC, 0o600)
            try:
                left = size  # what was counted, not whatever the file grows to
                while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
                    write_all(out, chunk)
                    left -= len(chunk)
            finally:
                os.close(out)
            copied = True
        finally:
            os.close(fd)
    return copied


class RpmDatabase:
    """Queries over one copy of the target's RPM database."""

    def __init__(self, dbpath: Path) -> None:
        self.dbpath = dbpath

    def _query(self, *args: str) -> list[str]:
        try:
            done = subprocess.run(
                ["rpm", "--dbpath", str(self.dbpath), *args], capture_output=True,
                timeout=QUERY_TIMEOUT, check=False, env={"LC_ALL": "C", "PATH": os.defpath})
        except (OSError, subprocess.TimeoutExpired):
            return []
        return done.stdout[:16 << 20].decode("utf-8", "replace").splitlines()

    def query(self, *args: str) -> list[str]:
        """The lines of `rpm --dbpath COPY ARGS` (untrusted text; [] when rpm fails)."""
        return self._query(*args)

    def _files(self, nvr: str) -> set[str]:
        return set(self._query("-q", "--qf", "[%{FILENAMES}\\n]", "--", nvr))

    def owner(self, *paths: str) -> RpmOwner | None:
        """The package owning the first of `paths` (the same file in its spellings: /lib/...
        and /usr/lib/... on merged-/usr systems) that the database names."""
        for path in paths:
            for line in self._query("-qf", "--qf", FORMAT, "--", path):
                name, _, version = line.partition("\t")
                if not PACKAGE_NAME.match(name) or not VERSION_RELEASE.match(version):
                    continue
                nvr = f"{name}-{version}"
                files = self._files(nvr)
                named = next((p for p in paths if p in files), None)
                if named is not None:
                    return RpmOwner(name, nvr, named)
        return None

    def provider(self, capability: str) -> RpmOwner | None:
        """The package providing a capability (a library's soname: libfoo.so.1()(64bit))."""
        for line in self._query("-q", "--whatprovides", "--qf", FORMAT, "--", capability):
            name, _, version = line.partition("\t")
            if PACKAGE_NAME.match(name) and VERSION_RELEASE.match(version):
                return RpmOwner(name, f"{name}-{version}", capability)
        return None


@contextmanager
def rpm_database(root: Path) -> Iterator[RpmDatabase | None]:
    """The target's RPM database as the host's rpm can read it, or None (no database on the
    disk, no rpm on the host, or a database too big to copy)."""
    source = database_dir(root)
    if source is None or shutil.which("rpm") is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="rescuetui-rpmdb-") as tmp:
        copied = _copy_database(ConfinedRoot(root), source, Path(tmp))
        yield RpmDatabase(Path(tmp)) if copied else None
