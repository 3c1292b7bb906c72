"""Check: a partition of the chosen disk holds a filesystem whose primary superblock is
destroyed, while a backup superblock is intact. Runs before root detection, read-only."""

from __future__ import annotations

from rescuetui.checks.base import Finding
from rescuetui.core.inventory import BlockDevice, Inventory, in_use
from rescuetui.core.superblock import find_backup_superblock, primary_superblock_intact
from rescuetui.core.text import printable

CHECK = "superblock"
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
        ident = dev.identity
        if not on_disk or not volume or dev.rescue_own or ident.error:
            continue
        if ident.fstype or ident.partition_table or dev.is_esp:
            continue
        if (ident.partition_type or "").lower() in NOT_FILESYSTEMS:
            continue
        out.append(dev)
    return out


def check_superblock(device: BlockDevice) -> Finding:
    """Look for backup superblocks on a device libblkid cannot identify."""
    data: dict[str, object] = {"device": device.path}
    try:
        found = find_backup_superblock(device.path)
    except OSError as exc:
        return Finding(CHECK, True, "ok", f"{device.path} could not be read ({exc.strerror}); "
                       "no superblock looked for.", data=data)
    if found is None:
        return Finding(CHECK, True, "ok", f"{device.path} holds no filesystem libblkid can see, "
                       "and no backup superblock of ext2/3/4 or XFS either.", data=data)
    if primary_superblock_intact(device.path, found):
        return Finding(CHECK, True, "ok", f"{device.path}: its primary {found.fstype} superblock "
                       "is there (libblkid rejected it for another reason).", data=data)
    data.update(found.to_json(), device=device.path, partition=device.identity.partition_number,
                busy=in_use(device))
    where = (f"partition {device.identity.partition_number} ({device.path})"
             if device.identity.partition_number else device.path)
    backup = ("an XFS secondary superblock at the start of allocation group 1 "
              f"(byte {found.offset})" if found.fstype == "xfs"
              else f"a backup at {found.location}")
    return Finding(CHECK, False, "destroyed",
                   f"{where} has a destroyed {found.fstype} superblock; {backup} is intact "
                   f"(UUID {found.uuid}).",
                   evidence=[f"no filesystem signature at the start of {device.path}",
                             f"{found.fstype} superblock at byte {found.offset} of "
                             f"{device.path}: UUID {found.uuid}"
                             + (f", label {printable(found.label)!r}" if found.label else "")
                             + f", {found.size >> 20} MiB"],
                   data=data)
