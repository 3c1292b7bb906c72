"""The kernel modules a disk needs, read from sysfs: the driver of the disk itself and of every
device above it (virtio_blk; or sd_mod, then the SCSI host's driver, then its PCI driver).

This is the disk as it is attached to the rescue machine; when the broken system ran on the
same virtual hardware (a repair VM in the same cloud, or the same machine booted from USB), it
is what its initramfs must carry too. A loop device has no driver chain: nothing to require.
"""

from __future__ import annotations

import os
from pathlib import Path

SYSFS = Path("/sys")
# Drivers whose sysfs name is not their module's name.
DRIVER_MODULES = {"sd": "sd_mod", "sr": "sr_mod", "virtio-pci": "virtio_pci",
                  "nvme": "nvme", "ahci": "ahci"}


def disk_driver_modules(disk: str, sysfs: Path = SYSFS) -> list[str]:
    """Module names along the device path of block device `disk` (e.g. "vda", "sda"),
    nearest first. Drivers built into the rescue kernel are listed by their driver name."""
    name = os.path.basename(disk)
    device = sysfs / "block" / name / "device"
    if not device.exists():
        return []
    modules: list[str] = []
    current = device.resolve()
    while current != current.parent and current != sysfs / "devices":
        driver = current / "driver"
        if driver.is_symlink():
            real = driver.resolve()
            module = real / "module"
            found = module.resolve().name if module.is_symlink() else \
                DRIVER_MODULES.get(real.name, real.name.replace("-", "_"))
            if found not in modules:
                modules.append(found)
        current = current.parent
    return modules
