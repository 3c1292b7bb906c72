"""UEFI: the ESP's FAT boot sector is destroyed: the firmware cannot read the partition at all
and drops to its shell. FAT32 keeps a backup of it in sector 6."""

from __future__ import annotations

from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.disk import zero_bytes
from rescuetui.lab.scenario import Scenario


def break_system(session: RescueSession, target: TargetSystem) -> str:
    if target.esp is None:
        raise RuntimeError("the UEFI practice base has no ESP")
    zero_bytes(target.esp, 512)
    return f"zeroed the FAT boot sector of the ESP {target.esp}"


SCENARIO = Scenario(
    name="esp-damaged",
    title="UEFI: the EFI system partition's FAT filesystem is damaged (boot sector zeroed)",
    symptom="The VM does not boot. The serial console shows 'BdsDxe: failed to load Boot0001 "
    "... Not Found' and the UEFI shell, whose mapping table lists no FS0: for the disk.",
    expected_outcome="uefi-shell",
    expected_class="grub",
    expected_fix="esp-boot-sector-restore",
    hints=(
        "The firmware sees the disk (BLK devices) but no filesystem on it (no FS0:): the ESP "
        "itself cannot be read, not just a missing file.",
        "Check the ESP without mounting it: fsck.vfat -n ESP-DEVICE says what is wrong.",
        "A zeroed FAT32 boot sector has a backup copy in sector 6 of the partition: copy it "
        "back, then fsck.vfat -n again. Never format the ESP without knowing what it held.",
    ),
    break_mounted=break_system,
    kernel_in_console=False,
    firmware="uefi",
    boot_timeout=120.0,
)
