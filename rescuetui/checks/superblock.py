"""Check: a partition of the chosen disk holds a filesystem whose primary superblock is
destroyed, while a backup superblock is intact. Runs before root detection, read-only."""

from __future__ import annotations

from rescuetui.checks.base import Finding
from rescuetui.core.inventory import BlockDevice, in_use
from rescuetui.core.superblock import (
    describe_destroyed,
    find_backup_superblock,
    primary_superblock_intact,
)
from rescuetui.core.text import printable

CHECK = "superblock"
def check_superblock(device: BlockDevice) -> Finding:
    """Look for backup superblocks on a device libblkid cannot identify."""
    data: dict[str, object] = {"device": device.path}
    try:
        found = find_backup_superblock(device.path, confirm=True)
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
    return Finding(CHECK, False, "destroyed", describe_destroyed(device, found),
                   evidence=[f"no filesystem signature at the start of {device.path}",
                             f"{found.fstype} superblock at byte {found.offset} of "
                             f"{device.path}: UUID {found.uuid}"
                             + (f", label {printable(found.label)!r}" if found.label else "")
                             + f", {found.size >> 20} MiB"],
                   data=data)
