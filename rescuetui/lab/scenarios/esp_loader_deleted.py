"""UEFI: the loaders are gone from the EFI system partition (the distro's and the fallback):
the firmware finds nothing to start and drops to its shell."""

from __future__ import annotations

import os
import subprocess

from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import Scenario


def break_system(session: RescueSession, target: TargetSystem) -> str:
    if target.esp is None:
        raise RuntimeError("the UEFI practice base has no ESP")
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    for path in ("::/EFI/BOOT", "::/EFI/debian"):
        subprocess.run(["mdeltree", "-i", target.esp, path], check=True, env=env,
                       capture_output=True)
    return f"deleted \\EFI\\BOOT and \\EFI\\debian from the ESP {target.esp}"


SCENARIO = Scenario(
    name="esp-loader-deleted",
    title="UEFI: the boot loaders were deleted from the EFI system partition",
    symptom="The VM does not boot. The serial console shows the firmware's 'BdsDxe: failed to "
    "load Boot0001 ... Not Found', then 'UEFI Interactive Shell' and a 'Shell>' prompt.",
    expected_outcome="uefi-shell",
    expected_class="grub",
    expected_fix="grub-reinstall-uefi",
    hints=(
        "The firmware tried the disk and found nothing it could start: no loader on the EFI "
        "system partition, so it fell through to its built-in shell.",
        "List the ESP without mounting it: mdir -/ -i ESP-DEVICE ::. Is \\EFI\\BOOT\\BOOTX64.EFI "
        "there? A disk moved to another VM (fresh NVRAM) boots only that fallback loader.",
        "Reinstall GRUB for x86_64-efi: its image goes to \\EFI\\debian\\grubx64.efi and to "
        "the fallback \\EFI\\BOOT\\BOOTX64.EFI.",
    ),
    break_mounted=break_system,
    kernel_in_console=False,
    firmware="uefi",
    boot_timeout=120.0,
)
