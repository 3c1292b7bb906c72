"""Arch Linux and derivatives. Kernels are named by package (`linux`, `linux-lts`), not version."""

from rescuetui.core.distros.base import DistroFamily

ARCH = DistroFamily(
    name="arch",
    ids=frozenset({"arch", "archarm", "manjaro", "endeavouros"}),
    initramfs_pattern="initramfs-{version}.img",
    bootloader_configs=("/boot/grub/grub.cfg", "/boot/loader/entries"),
    reinstall_command=("pacman", "-S", "--noconfirm", "{packages}"),
    owner_command=("pacman", "-Qqo", "{path}"),
    kernel_package_pattern="{name}",
    grub_command=("grub-mkconfig", "-o", "/boot/grub/grub.cfg"),
    verify_command=("pacman", "-Qkk"),
    grub_packages=(("i386-pc", "grub"), ("x86_64-efi", "grub"), ("arm64-efi", "grub")),
    package_db="pacman",
)
