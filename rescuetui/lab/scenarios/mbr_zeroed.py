"""The MBR's boot code is zeroed (its partition table kept): the BIOS finds nothing to run."""

from __future__ import annotations

from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.disk import zero_bytes
from rescuetui.lab.scenario import Scenario

BOOT_CODE_BYTES = 440


def break_system(session: RescueSession, target: TargetSystem) -> str:
    zero_bytes(target.disk, BOOT_CODE_BYTES)
    return f"zeroed the first {BOOT_CODE_BYTES} bytes of {target.disk} (the partition table kept)"


SCENARIO = Scenario(
    name="mbr-zeroed",
    title="The disk's boot code (the MBR's first 440 bytes) was zeroed",
    symptom="The VM does not boot. The serial console shows the BIOS's 'Booting from Hard "
    "Disk...' and then nothing at all: no GRUB, no kernel.",
    expected_outcome="no-boot-code",
    expected_class="unknown",
    expected_fix="grub-reinstall",
    hints=(
        "The firmware handed over to the disk and nothing answered: the code it runs from the "
        "disk's first sector is missing or damaged. The console can say no more than that.",
        "Look at the disk's first sector: GRUB's boot code carries the words 'GRUB', 'Geom', "
        "'Hard Disk', 'Read', ' Error'. Zeros mean nothing is there.",
        "Reinstall GRUB for BIOS on that disk (grub-install --target=i386-pc DISK); it writes "
        "only the first 440 bytes and the gap after the MBR, never the partition table.",
    ),
    break_mounted=break_system,
    kernel_in_console=False,
    boot_timeout=120.0,
)
