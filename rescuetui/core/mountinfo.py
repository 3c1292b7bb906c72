"""What is mounted where on the rescue host, read from /proc/self/mountinfo."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_OCTAL = re.compile(r"\\([0-7]{3})")


def unescape_octal(field: str) -> str:
    """mountinfo and fstab write space, tab, newline and backslash as `\\040`-style escapes."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


@dataclass(frozen=True)
class MountInfo:
    mount_id: int
    major_minor: str
    root: str
    mountpoint: str
    fstype: str
    source: str
    options: str
    super_options: str


def parse_mountinfo(text: str) -> list[MountInfo]:
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-")
            mounts.append(
                MountInfo(
                    mount_id=int(fields[0]),
                    major_minor=fields[2],
                    root=unescape_octal(fields[3]),
                    mountpoint=unescape_octal(fields[4]),
                    options=fields[5],
                    fstype=fields[sep + 1],
                    source=unescape_octal(fields[sep + 2]),
                    super_options=fields[sep + 3] if len(fields) > sep + 3 else "",
                )
            )
        except (ValueError, IndexError):
            continue
    return mounts


def current_mounts() -> list[MountInfo]:
    return parse_mountinfo(Path("/proc/self/mountinfo").read_text(errors="surrogateescape"))


def mounts_below(prefix: Path) -> list[MountInfo]:
    """Mounts at or below `prefix`, deepest last in mount order."""
    p = str(prefix).rstrip("/")
    return [m for m in current_mounts() if m.mountpoint == p or m.mountpoint.startswith(p + "/")]
