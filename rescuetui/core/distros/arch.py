"""Arch Linux and derivatives. Kernels are named by package (`linux`, `linux-lts`), not version."""

from rescuetui.core.distros.base import DistroFamily

ARCH = DistroFamily(
    name="arch",
    ids=frozenset({"arch", "archarm", "manjaro", "endeavouros"}),
    initramfs_pattern="initramfs-{version}.img",
    bootloader_configs=("/boot/grub/grub.cfg", "/boot/loader/entries"),
)
