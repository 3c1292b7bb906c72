"""The modes and owners packages ship, compared with what is on the disk.

Debian: dpkg --verify does not look at modes, so the expected mode and owner of every file of
the essential packages (and the boot packages: libc6, systemd, sudo, openssh-server) are read
from their .deb in the target's apt cache, with the rescue host's dpkg-deb: nothing has to run
inside the target, which matters when the loader itself lost its execute bits. Overrides the
administrator set with dpkg-statoverride are respected.

RPM: the modes, users and groups every installed package records (read from a copy of the
database by the host's rpm) against the disk, as `rpm -Va` would report them (M, U, G); the
packages that own them are what `rpm --setugids` and `rpm --setperms` restore.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from rescuetui.checks.base import TargetContext
from rescuetui.checks.package_digests import rpm_attribute_differences, rpm_records
from rescuetui.checks.packages import cached_deb
from rescuetui.core.confined import ConfinedRoot
from rescuetui.core.errors import RescueError

STATUS_LIMIT = 64 << 20  # dpkg's status of a large system is a few MiB

# Beyond the Essential: yes packages: what boot and a remote login need.
BOOT_PACKAGES = ("libc6", "systemd", "sudo", "openssh-server", "openssh-client")


@dataclass(frozen=True)
class Shipped:
    path: str  # as the package installs it, e.g. /usr/bin/sudo
    mode: int
    uid: int
    gid: int


@dataclass(frozen=True)
class Member:
    path: str
    mode: int
    content: bytes | None = None  # regular files
    link_target: str | None = None  # symbolic links


class ArchiveUnreadable(RescueError):
    """A .deb in the target's cache could not be read whole: what it ships is not known."""


def _deb_members(files: ConfinedRoot, deb: str
                 ) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo, str]]:
    """(archive, member, installed path) for each member of a .deb's filesystem archive
    (`deb`: a target path), streamed from the host's dpkg-deb, which is handed the archive's
    descriptor (opened inside the target, a regular file), never a name to follow.
    ArchiveUnreadable once the stream is read to its end when dpkg-deb failed or the archive
    inside is damaged: a short listing is never taken for the whole."""
    fd = files.open_regular(deb)
    try:
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", f"/proc/self/fd/{fd}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                pass_fds=(fd,))
    finally:
        os.close(fd)
    with proc:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
                for member in archive:
                    yield archive, member, "/" + member.name.lstrip("./").rstrip("/")
        except (tarfile.TarError, OSError, EOFError) as exc:
            proc.kill()
            raise ArchiveUnreadable(f"{deb} on the target cannot be read ({exc}).") from exc
        said = proc.stderr.read(4096).decode("utf-8", "replace").strip()
        if proc.wait() != 0:
            raise ArchiveUnreadable(f"{deb} on the target cannot be read: dpkg-deb failed "
                                    f"(exit status {proc.returncode}){': ' + said if said else ''}.")


def archive_members(files: ConfinedRoot, deb: str) -> list[Member]:
    """The files and links of a .deb (a target path) with their content."""
    members = []
    for archive, member, path in _deb_members(files, deb):
        if member.issym():
            members.append(Member(path, 0o777, link_target=member.linkname))
        elif member.isfile():
            data = archive.extractfile(member)
            members.append(Member(path, member.mode & 0o7777,
                                  content=data.read() if data else b""))
    return members


_shipped_cache: dict[tuple[str, int, int], list[Shipped]] = {}


def shipped_entries(files: ConfinedRoot, deb: str) -> list[Shipped]:
    """Every file and directory a .deb (a target path) installs, with mode and owner (links
    left out). Cached by the archive's path, size and time: a repair re-runs its checks after
    every fix."""
    st = files.stat(deb)
    if st is None:
        return []
    key = (f"{files.root}:{deb}", st.st_size, int(st.st_mtime))
    if key in _shipped_cache:
        return _shipped_cache[key]
    entries = [Shipped(path, member.mode & 0o7777, member.uid, member.gid)
               for _, member, path in _deb_members(files, deb)
               if member.isfile() or member.isdir()]  # ArchiveUnreadable: not cached
    _shipped_cache[key] = entries
    return entries


def essential_packages(ctx: TargetContext) -> list[str]:
    """Installed packages marked Essential, plus the boot packages that are installed."""
    status = ctx.files.read_text("/var/lib/dpkg/status", STATUS_LIMIT)
    if status is None:
        return []
    essential, installed, package = [], set(), ""
    for line in status.splitlines():
        if line.startswith("Package: "):
            package = line[9:].strip()
        elif line == "Essential: yes":
            essential.append(package)
        elif line.startswith("Status: ") and line.endswith(" installed"):
            installed.add(package)
    wanted = [p for p in essential if p in installed]
    return wanted + [p for p in BOOT_PACKAGES if p in installed and p not in wanted]


def stat_overrides(ctx: TargetContext) -> set[str]:
    """Paths whose owner and mode the administrator set on purpose (dpkg-statoverride)."""
    text = ctx.files.read_text("/var/lib/dpkg/statoverride", STATUS_LIMIT)
    if text is None:
        return set()
    return {fields[3] for line in text.splitlines() if len(fields := line.split()) == 4}


def _read_archives(files: ConfinedRoot, archives: list[tuple[str, str]]
                   ) -> list[tuple[str, list[Shipped] | ArchiveUnreadable]]:
    """What each (package, archive) ships, the archives read side by side (each is a dpkg-deb
    decompressing in C, most of the time of a first look), in the order given."""
    def read(archive: tuple[str, str]) -> tuple[str, list[Shipped] | ArchiveUnreadable]:
        try:
            return archive[0], shipped_entries(files, archive[1])
        except ArchiveUnreadable as exc:
            return archive[0], exc

    workers = min(len(archives), os.cpu_count() or 1, 4)
    if workers < 2:
        return [read(a) for a in archives]
    with ThreadPoolExecutor(workers, thread_name_prefix="rescuetui-deb") as pool:
        return list(pool.map(read, archives))


def debian_mode_differences(ctx: TargetContext
                            ) -> tuple[list[dict[str, str]], list[str], list[str]]:
    """(files whose mode or owner differs from their package, packages with no archive, why
    the archives that could not be read were not)."""
    wrong: list[dict[str, str]] = []
    without_archive: list[str] = []
    unreadable: list[str] = []
    overrides = stat_overrides(ctx)
    seen: set[str] = set()
    archives: list[tuple[str, str]] = []
    for package in essential_packages(ctx):
        deb = cached_deb(ctx, package)
        if deb is None:
            without_archive.append(package)
        else:
            archives.append((package, deb))
    for package, shipped in _read_archives(ctx.files, archives):
        if isinstance(shipped, ArchiveUnreadable):
            unreadable.append(str(shipped))
            continue
        for entry in shipped:
            if entry.path in overrides or entry.path == "/":
                continue
            directory, _, name = entry.path.rpartition("/")
            where = ctx.files.resolve(directory or "/")
            st = ctx.files.lstat(entry.path)
            parent = ctx.files.stat(directory or "/")
            if where is None or st is None or parent is None:
                continue  # missing files are package verification's business
            real = where.rstrip("/") + "/" + name
            if stat.S_ISLNK(st.st_mode) or real in seen or st.st_dev != parent.st_dev:
                continue  # a mount point shows the mounted filesystem's mode, not its own
            seen.add(real)  # merged /usr: /bin/su and /usr/bin/su are one file
            mode = st.st_mode & 0o7777
            if (mode, st.st_uid, st.st_gid) != (entry.mode, entry.uid, entry.gid):
                wrong.append({
                    "path": real, "mode": f"{mode:04o}", "expected": f"{entry.mode:04o}",
                    "uid": str(entry.uid), "gid": str(entry.gid), "package": package,
                    "why": f"{package} ships it {entry.mode:04o} {entry.uid}:{entry.gid}, it "
                           f"is {mode:04o} {st.st_uid}:{st.st_gid}"})
    return wrong, without_archive, unreadable


def rpm_mode_differences(ctx: TargetContext) -> tuple[list[dict[str, str]], list[str]] | None:
    """(files with other modes or owners than their package's, the packages owning them),
    compared on the host with every installed package's file records (rpm -Va's M, U and G
    without running rpm in the target); None when the host's rpm cannot read its database."""
    records = rpm_records(ctx.root, None)
    if records is None:
        return None
    changed = rpm_attribute_differences(ctx.files, records)
    packages = sorted({c["package"] for c in changed})
    return [{"path": c["path"], "why": c["why"]} for c in changed], packages
