"""Backup superblocks of a filesystem whose primary one is destroyed: ext2/3/4 at every block
size, XFS at the start of each allocation group. Read with a few bounded reads, never mounted.

A filesystem whose primary superblock is gone is invisible to libblkid (and so to fstab's
UUID= and to root detection), but its backups still name its type, UUID and geometry."""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rescuetui.core.inventory import BlockDevice, Inventory
from rescuetui.core.tools import ToolError, tool

EXT_MAGIC = 0xEF53
EXT_SB_SIZE = 1024
EXT_BLOCK_SIZES = (1024, 2048, 4096, 8192, 16384, 32768, 65536)
# ext feature bits that decide where the backups are (sparse_super: groups 0, 1 and the
# powers of 3, 5 and 7; sparse_super2: the two groups s_backup_bgs names).
COMPAT_SPARSE_SUPER2 = 0x200
RO_COMPAT_SPARSE_SUPER = 0x1
INCOMPAT_64BIT = 0x80
INCOMPAT_JOURNAL_DEV = 0x8
COMPAT_HAS_JOURNAL = 0x4
EXT3_INCOMPAT = 0x2 | 0x4 | 0x10  # filetype, recover, meta_bg
EXT3_RO_COMPAT = 0x1 | 0x2 | 0x4  # sparse_super, large_file, btree_dir
EXT_GROUPS_TRIED = 64  # backups looked at per block size: the first few groups suffice

XFS_MAGIC = b"XFSB"
XFS_AGF_MAGIC = b"XAGF"
XFS_BLOCK_SIZES = (4096, 512, 1024, 2048, 8192, 16384, 32768, 65536)
XFS_SECTOR_SIZES = (512, 4096)
XFS_AG_COUNTS = tuple(range(1, 129))  # mkfs.xfs makes 4 below 4 TiB; more when told or striped

# What a restore backs up first (the start of the filesystem: the primary superblock, the
# group descriptors after it, XFS's first allocation group headers), and undo puts back.
DAMAGED_REGION_BYTES = 1 << 20


@dataclass(frozen=True)
class BackupSuperblock:
    """An intact backup superblock: where it is, and the filesystem it describes."""

    fstype: str  # ext2, ext3, ext4 or xfs
    block: int  # its block number, in `block_size` units (what e2fsck -b takes)
    block_size: int
    offset: int  # bytes from the start of the device
    uuid: str
    label: str
    size: int  # the filesystem's size in bytes

    @property
    def location(self) -> str:
        return f"block {self.block} ({self.block_size}-byte blocks)"

    def to_json(self) -> dict[str, Any]:
        return {"fstype": self.fstype, "block": self.block, "block_size": self.block_size,
                "offset": self.offset, "uuid": self.uuid, "label": self.label,
                "size": self.size}


# Partitions whose contents are not a Linux filesystem by design: their own checks look at them.
NOT_FILESYSTEMS = frozenset({
    "21686148-6449-6e6f-744e-656564454649",  # BIOS boot (GRUB's core image)
    "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f",  # Linux swap
    "0x82",  # Linux swap (MBR)
    "0x5", "0xf", "0x85",  # extended partitions: a table, not a filesystem
})


def unidentified_devices(inventory: Inventory, disks: list[str]) -> list[BlockDevice]:
    """Partitions (and opened volumes) of the chosen disks where libblkid found nothing: no
    filesystem, no swap, no table, no error. A destroyed primary superblock looks like this."""
    out = []
    for dev in inventory.devices:
        on_disk = dev.whole_disk in disks or dev.path in disks
        volume = dev.devtype == "partition" or bool(dev.dm_name)
        if not on_disk or not volume or dev.rescue_own:
            continue
        ident = dev.identity
        if ident.error:
            continue
        if ident.fstype or ident.partition_table or dev.is_esp:
            continue
        if (ident.partition_type or "").lower() in NOT_FILESYSTEMS:
            continue
        out.append(dev)
    return out


def describe_destroyed(device: BlockDevice, found: BackupSuperblock) -> str:
    """The sentence an operator reads: which partition, which filesystem, which backup."""
    where = (f"partition {device.identity.partition_number} ({device.path})"
             if device.identity.partition_number else device.path)
    backup = ("an XFS secondary superblock at the start of allocation group 1 "
              f"(byte {found.offset})" if found.fstype == "xfs"
              else f"a backup at {found.location}")
    return (f"{where} has a destroyed {found.fstype} superblock; {backup} is intact "
            f"(UUID {found.uuid}).")


def destroyed_superblocks(inventory: Inventory, disks: list[str]) -> list[str]:
    """What `describe_destroyed` says for each filesystem of `disks` that needs a restore."""
    out = []
    for device in unidentified_devices(inventory, disks):
        try:
            found = find_backup_superblock(device.path, confirm=True)
            if found is not None and not primary_superblock_intact(device.path, found):
                out.append(describe_destroyed(device, found))
        except OSError:
            continue
    return out


class _Reader:
    """Bounded reads of one device; a short read or an error is no superblock, not a crash."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size = fd, size

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or offset + length > self.size:
            return b""
        try:
            data = os.pread(self.fd, length, offset)
        except OSError:
            return b""
        return data if len(data) == length else b""


def device_size(fd: int) -> int:
    return os.lseek(fd, 0, os.SEEK_END)


def find_backup_superblock(device: str, *, confirm: bool = False) -> BackupSuperblock | None:
    """The first intact backup superblock on `device` (ext tried before XFS), or None. With
    `confirm`, only one that e2fsprogs opens (`ext_backup_opens`) counts."""
    fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    try:
        reader = _Reader(fd, device_size(fd))
        for found in itertools.chain(_ext_backups(reader), _xfs_backups(reader)):
            if not confirm or ext_backup_opens(device, found):
                return found
        return None
    finally:
        os.close(fd)


def ext_backup_opens(device: str, found: BackupSuperblock) -> bool:
    """Whether e2fsprogs opens the filesystem from this backup (its checksum, its group
    descriptors): what `e2fsck -b` will need. XFS's secondaries are xfs_repair's to judge."""
    if found.fstype == "xfs":
        return True
    try:
        tool("dumpe2fs", "-o", f"superblock={found.block}", "-o", f"blocksize={found.block_size}",
             "-h", device)
    except ToolError:
        return False
    return True


def primary_superblock_intact(device: str, found: BackupSuperblock) -> bool:
    """Whether the primary superblock is there after all (then nothing needs restoring)."""
    fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    try:
        reader = _Reader(fd, device_size(fd))
        if found.fstype == "xfs":
            return reader.read(0, 4) == XFS_MAGIC
        sb = reader.read(1024, EXT_SB_SIZE)
        return len(sb) == EXT_SB_SIZE and struct.unpack_from("<H", sb, 56)[0] == EXT_MAGIC
    finally:
        os.close(fd)


# -- ext2/3/4 --------------------------------------------------------------------------------


def _ext_backup_groups(limit: int) -> list[int]:
    """Groups that hold a backup under sparse_super (1, 3^n, 5^n, 7^n), ascending."""
    groups = {1}
    for base in (3, 5, 7):
        power = base
        while power < limit:
            groups.add(power)
            power *= base
    return sorted(g for g in groups if g < limit)


def _ext_backups(reader: _Reader) -> Iterator[BackupSuperblock]:
    for block_size in EXT_BLOCK_SIZES:
        # mke2fs's default: a block bitmap fills one block, so 8 * block size blocks a group.
        per_group = 8 * block_size
        first_data = 1 if block_size == 1024 else 0
        groups = reader.size // (per_group * block_size) + 1
        candidates = _ext_backup_groups(groups)[:EXT_GROUPS_TRIED]
        for group in candidates:
            block = first_data + group * per_group
            found = _ext_at(reader, block, block_size, group)
            if found is not None:
                yield found


def _ext_at(reader: _Reader, block: int, block_size: int, group: int) -> BackupSuperblock | None:
    """The superblock at `block` if it is an ext superblock that belongs exactly there."""
    offset = block * block_size
    sb = reader.read(offset, EXT_SB_SIZE)
    if len(sb) != EXT_SB_SIZE or struct.unpack_from("<H", sb, 56)[0] != EXT_MAGIC:
        return None
    log_block_size, = struct.unpack_from("<I", sb, 24)
    first_data, = struct.unpack_from("<I", sb, 20)
    per_group, = struct.unpack_from("<I", sb, 32)
    group_nr, = struct.unpack_from("<H", sb, 90)
    if log_block_size > 6 or 1024 << log_block_size != block_size:
        return None
    # A superblock that says it is group `group`'s copy, of a filesystem whose groups start
    # where this one was found: a stale copy from an earlier mkfs with other geometry is not.
    if group_nr != group or first_data + group * per_group != block:
        return None
    compat, incompat, ro_compat = struct.unpack_from("<III", sb, 92)
    if incompat & INCOMPAT_JOURNAL_DEV:
        return None  # an external journal device: e2fsck does not restore those
    blocks, = struct.unpack_from("<I", sb, 4)
    if incompat & INCOMPAT_64BIT:
        blocks |= struct.unpack_from("<I", sb, 0x150)[0] << 32
    if blocks * block_size > reader.size or blocks <= block:
        return None  # larger than the device, or this block is beyond its end
    if compat & COMPAT_SPARSE_SUPER2:
        if group not in struct.unpack_from("<II", sb, 0x24C):
            return None
    elif not ro_compat & RO_COMPAT_SPARSE_SUPER and group == 0:
        return None
    return BackupSuperblock(_ext_kind(compat, incompat, ro_compat), block, block_size, offset,
                            _uuid(sb[104:120]), _label(sb[120:136]), blocks * block_size)


def _ext_kind(compat: int, incompat: int, ro_compat: int) -> str:
    """What libblkid calls it: ext4 with any feature ext3 lacks, ext3 with a journal."""
    if incompat & ~EXT3_INCOMPAT or ro_compat & ~EXT3_RO_COMPAT:
        return "ext4"
    return "ext3" if compat & COMPAT_HAS_JOURNAL else "ext2"


# -- XFS -------------------------------------------------------------------------------------


def _xfs_backups(reader: _Reader) -> Iterator[BackupSuperblock]:
    """A secondary superblock at the start of allocation group 1 (or later), whose own
    geometry puts it there. Where to look: the first AG's length from its AGF when that
    survived (a grown filesystem's AGs keep their first size), else mkfs.xfs's AG sizes for
    this device (its size split in 1 to 128 equal groups, rounded up or down)."""
    lengths: list[int] = []
    for sector in XFS_SECTOR_SIZES:
        agf = reader.read(sector, 16)
        if agf[:4] == XFS_AGF_MAGIC and struct.unpack_from(">I", agf, 8)[0] == 0:
            lengths.append(struct.unpack_from(">I", agf, 12)[0])
    for block_size in XFS_BLOCK_SIZES:
        dblocks = reader.size // block_size
        tried = list(lengths)
        for count in XFS_AG_COUNTS:
            tried += [dblocks // count, -(-dblocks // count)]
        for agblocks in dict.fromkeys(tried):
            if agblocks <= 0:
                continue
            found = _xfs_at(reader, agblocks, block_size)
            if found is not None:
                yield found
                return  # xfs_repair finds the others itself


def _xfs_at(reader: _Reader, agblocks: int, block_size: int) -> BackupSuperblock | None:
    offset = agblocks * block_size
    sb = reader.read(offset, 512)
    if sb[:4] != XFS_MAGIC:
        return None
    sb_block_size, = struct.unpack_from(">I", sb, 4)
    dblocks, = struct.unpack_from(">Q", sb, 8)
    sb_agblocks, sb_agcount = struct.unpack_from(">II", sb, 84)
    if sb_block_size != block_size or sb_agblocks != agblocks or sb_agcount < 2:
        return None
    if dblocks * block_size > reader.size or dblocks <= agblocks:
        return None
    return BackupSuperblock("xfs", agblocks, block_size, offset, _uuid(sb[32:48]),
                            _label(sb[108:120]), dblocks * block_size)


def _uuid(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _label(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
