"""/boot's primary superblock is destroyed: a 256 MiB ext4 with 1 KiB blocks (mke2fs's choice
below 512 MiB), whose backups sit at blocks 8193, 24577, 40961, ..."""

from __future__ import annotations

import os

from rescuetui.core.inventory import scan_inventory
from rescuetui.lab.disk import zero_bytes
from rescuetui.lab.scenario import Scenario
from rescuetui.lab.scenarios.root_superblock_destroyed import SUPERBLOCK_BYTES, SUPERBLOCK_OFFSET

BOOT_LABEL = "boot"  # the practice base's /boot partition (lab/debian.two_partition_image)


def break_device(root_device: str) -> str:
    inventory = scan_inventory()
    root = inventory.get(root_device)
    disk = root.whole_disk if root else os.path.realpath(root_device)
    boot = next((d for d in inventory.partitions_of(disk) if d.identity.label == BOOT_LABEL),
                None)
    if boot is None:
        raise RuntimeError(f"lab: {disk} has no partition labelled {BOOT_LABEL!r}")
    zero_bytes(boot.path, SUPERBLOCK_BYTES, SUPERBLOCK_OFFSET)
    return (f"zeroed bytes {SUPERBLOCK_OFFSET}-{SUPERBLOCK_OFFSET + SUPERBLOCK_BYTES - 1} of "
            f"{boot.path} (/boot's primary superblock; 1 KiB blocks)")


SCENARIO = Scenario(
    name="boot-superblock-destroyed",
    title="The /boot filesystem's primary superblock is destroyed",
    symptom="The VM does not boot. The serial console shows GRUB's rescue prompt: GRUB "
    "cannot read the filesystem its modules and configuration are on.",
    expected_outcome="grub-error",
    expected_class="grub",
    expected_fix="superblock-restore",
    hints=(
        "GRUB's core image starts, then cannot read /boot: 'unknown filesystem'. The partition "
        "is there; its filesystem's identity, the superblock, is not.",
        "A small ext4 (below 512 MiB) has 1 KiB blocks: its first backup superblock is block "
        "8193, not 32768 (`dumpe2fs -o superblock=8193 -o blocksize=1024 -h DEV`).",
        "`e2fsck -b 8193 -B 1024 DEV` on the unmounted partition writes the primary back.",
    ),
    break_device=break_device,
    kernel_in_console=False,
    boot_timeout=120.0,
)
