"""Byte ranges of a whole disk (boot code, the post-MBR gap, an ESP), read and written so that
they agree with what tools wrote through the disk's partition devices."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DiskRegion:
    """A byte range of a whole disk: what a boot loader install writes, and its backup."""

    offset: int
    length: int
    what: str
    # The start of a filesystem (a superblock): written back only with nothing mounted from it.
    filesystem: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"offset": self.offset, "length": self.length, "what": self.what,
                "filesystem": self.filesystem}


BLKFLSBUF = 0x1261  # flush a block device's dirty buffers and drop its cache


def flush_block_caches(disk: str) -> None:
    """Write out and drop the caches of a disk and its partitions. A whole disk and its
    partitions have separate page caches: what mtools or fsck.vfat wrote through /dev/sdX1 is
    not seen through /dev/sdX until flushed, and the other way round."""
    import fcntl

    name = os.path.basename(os.path.realpath(disk))
    sysfs = Path("/sys/class/block") / name
    devices = [disk]
    if sysfs.is_dir():
        devices += [f"/dev/{p.name}" for p in sysfs.iterdir()
                    if p.name.startswith(name) and (p / "partition").exists()]
    for device in devices:
        try:
            fd = os.open(device, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
            fcntl.ioctl(fd, BLKFLSBUF)
        except OSError:
            pass  # a regular file (a test's image) has no block cache to drop
        finally:
            os.close(fd)


def read_region(disk: str, offset: int, length: int) -> bytes:
    flush_block_caches(disk)
    with open(disk, "rb", buffering=0) as f:
        f.seek(offset)
        return f.read(length)


def write_region(disk: str, offset: int, data: bytes) -> None:
    with open(disk, "r+b", buffering=0) as f:
        f.seek(offset)
        f.write(data)
        os.fsync(f.fileno())
    flush_block_caches(disk)
