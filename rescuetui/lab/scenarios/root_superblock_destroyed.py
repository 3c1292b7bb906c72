"""The root filesystem's primary superblock is destroyed (zeroed); its backups are intact."""

from __future__ import annotations

from rescuetui.lab.disk import zero_bytes
from rescuetui.lab.scenario import Scenario

# ext2/3/4 keep the primary superblock at bytes 1024-2047 of the filesystem, whatever the
# block size; the backups sit at the start of block groups 1, 3, 5, 7, 9, 25, ...
SUPERBLOCK_OFFSET, SUPERBLOCK_BYTES = 1024, 1024


def break_device(device: str) -> str:
    zero_bytes(device, SUPERBLOCK_BYTES, SUPERBLOCK_OFFSET)
    return (f"zeroed bytes {SUPERBLOCK_OFFSET}-{SUPERBLOCK_OFFSET + SUPERBLOCK_BYTES - 1} of "
            f"{device} (the root filesystem's primary superblock)")


SCENARIO = Scenario(
    name="root-superblock-destroyed",
    title="The root filesystem's primary superblock is destroyed",
    symptom="The VM does not boot. GRUB and the kernel start, then the initramfs says the root "
    "device (by UUID) does not exist and drops to a shell.",
    expected_outcome="initramfs-shell",
    expected_class="initramfs-root-missing",
    expected_fix="superblock-restore",
    hints=(
        "The disk is there (the kernel lists it and its partitions), but nothing answers to the "
        "root's UUID: the filesystem's identity, its superblock, is what is missing.",
        "`blkid -p` on the root partition finds nothing; `dumpe2fs -o superblock=32768 -o "
        "blocksize=4096 -h DEV` (8193 and 1024 for small filesystems) reads a backup.",
        "`e2fsck -b BLOCK -B SIZE DEV` on the unmounted partition writes the primary superblock "
        "back from that backup and repairs the rest.",
    ),
    break_device=break_device,
)
