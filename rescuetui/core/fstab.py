"""Parser for a target's /etc/fstab: entries with line numbers, what kind each is, and syntax errors."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rescuetui.core.mountinfo import unescape_octal

NETWORK_TYPES = frozenset(
    {"nfs", "nfs4", "cifs", "smbfs", "smb3", "sshfs", "fuse.sshfs", "glusterfs", "ceph",
     "davfs", "fuse.s3fs", "lustre", "ocfs2", "gfs2"}
)
PSEUDO_TYPES = frozenset(
    {"proc", "sysfs", "tmpfs", "devpts", "devtmpfs", "cgroup", "cgroup2", "securityfs",
     "debugfs", "tracefs", "efivarfs", "hugetlbfs", "mqueue", "binfmt_misc", "configfs",
     "pstore", "bpf", "ramfs", "fusectl", "autofs", "overlay"}
)
_BY_LINK = re.compile(r"^/dev/disk/by-(uuid|label|partuuid|partlabel)/(.+)$")
_UDEV_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
_TAGS = ("UUID", "LABEL", "PARTUUID", "PARTLABEL")


@dataclass(frozen=True)
class DeviceSpec:
    """What the first fstab field names: a tag (`UUID`, `LABEL`, `PARTUUID`, `PARTLABEL`) and
    its value, or `path` and a device path, or `other` (a network share, `none`, ...)."""

    tag: str
    value: str

    def __str__(self) -> str:
        return self.value if self.tag in ("path", "other") else f"{self.tag}={self.value}"


def parse_spec(spec: str, fstype: str = "") -> DeviceSpec:
    for tag in _TAGS:
        if spec.upper().startswith(tag + "="):
            return DeviceSpec(tag, spec[len(tag) + 1 :].strip("\"'"))
    m = _BY_LINK.match(spec)
    if m:
        value = _UDEV_ESCAPE.sub(lambda x: chr(int(x.group(1), 16)), m.group(2))
        return DeviceSpec(m.group(1).upper(), value)
    if spec.startswith("/dev/"):
        return DeviceSpec("path", spec)
    return DeviceSpec("other", spec)


@dataclass(frozen=True)
class FstabEntry:
    line_number: int
    raw: str
    spec: str
    mountpoint: str
    fstype: str
    options: tuple[str, ...]
    dump: int
    passno: int

    @property
    def device(self) -> DeviceSpec:
        return parse_spec(self.spec, self.fstype)

    @property
    def kind(self) -> str:
        """`filesystem`, `swap`, `network`, `bind` or `pseudo`."""
        if self.fstype == "swap":
            return "swap"
        if "bind" in self.options or "rbind" in self.options:
            return "bind"
        if self.fstype in NETWORK_TYPES or "_netdev" in self.options or (
            ":" in self.spec and not self.spec.startswith("/")
            and self.device.tag in ("path", "other")
        ):
            return "network"
        if self.fstype in PSEUDO_TYPES:
            return "pseudo"
        return "filesystem"

    @property
    def nofail(self) -> bool:
        return "nofail" in self.options

    @property
    def noauto(self) -> bool:
        return "noauto" in self.options


@dataclass(frozen=True)
class FstabProblem:
    line_number: int
    raw: str
    message: str


@dataclass(frozen=True)
class Fstab:
    entries: tuple[FstabEntry, ...]
    problems: tuple[FstabProblem, ...]

    def mounts(self) -> list[FstabEntry]:
        """Entries to mount into the target tree, parents before children."""
        mountable = [e for e in self.entries if e.kind in ("filesystem", "bind")]
        return sorted(mountable, key=lambda e: _depth(e.mountpoint))

    def root_entry(self) -> FstabEntry | None:
        return next((e for e in self.entries if e.mountpoint == "/"), None)


def _depth(mountpoint: str) -> int:
    return 0 if mountpoint == "/" else mountpoint.rstrip("/").count("/")


def parse_fstab(text: str) -> Fstab:
    entries: list[FstabEntry] = []
    problems: list[FstabProblem] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 4 and not (len(fields) == 3 and fields[2] == "swap"):
            problems.append(
                FstabProblem(number, raw, f"line {number} has {len(fields)} fields; fstab needs "
                             "at least 4 (device, mount point, type, options)")
            )
            continue
        if len(fields) > 6:
            problems.append(
                FstabProblem(number, raw, f"line {number} has {len(fields)} fields; fstab has 6 "
                             "(a space in a path must be written \\040)")
            )
            continue
        spec, mountpoint, fstype = (unescape_octal(f) for f in fields[:3])
        options = tuple(fields[3].split(",")) if len(fields) > 3 else ("defaults",)
        try:
            dump = int(fields[4]) if len(fields) > 4 else 0
            passno = int(fields[5]) if len(fields) > 5 else 0
        except ValueError:
            problems.append(
                FstabProblem(number, raw, f"line {number}: dump and pass fields must be numbers")
            )
            continue
        entry = FstabEntry(number, raw, spec, mountpoint, fstype, options, dump, passno)
        if entry.kind != "swap" and not mountpoint.startswith("/"):
            problems.append(
                FstabProblem(number, raw, f"line {number}: mount point {mountpoint!r} is not an "
                             "absolute path")
            )
            continue
        if entry.kind != "swap" and mountpoint in seen:
            problems.append(
                FstabProblem(number, raw, f"line {number}: {mountpoint} is mounted again (first "
                             f"on line {seen[mountpoint]}); the later line hides the earlier")
            )
        seen.setdefault(mountpoint, number)
        entries.append(entry)
    return Fstab(tuple(entries), tuple(problems))
