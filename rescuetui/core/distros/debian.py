"""Debian, Ubuntu and their derivatives."""

from rescuetui.core.distros.base import DistroFamily

DEBIAN = DistroFamily(
    name="debian",
    ids=frozenset({"debian", "ubuntu", "linuxmint", "pop", "raspbian", "kali", "devuan"}),
    initramfs_pattern="initrd.img-{version}",
    bootloader_configs=("/boot/grub/grub.cfg", "/boot/efi/EFI/{id}/grub.cfg"),
)
