"""Azure Linux (formerly CBL-Mariner)."""

from rescuetui.core.distros.base import DistroFamily

AZURE_LINUX = DistroFamily(
    name="azurelinux",
    ids=frozenset({"azurelinux", "mariner"}),
    initramfs_pattern="initramfs-{version}.img",
    bootloader_configs=("/boot/grub2/grub.cfg", "/boot/efi/boot/grub2/grub.cfg"),
    initramfs_command=("dracut", "-f", "{path}", "{version}"),
    reinstall_command=("tdnf", "reinstall", "-y", "{packages}"),
    owner_command=("rpm", "-qf", "{path}"),
    kernel_package_pattern="kernel",
    grub_command=("grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"),
    verify_command=("rpm", "-V"),
    grub_install="grub2-install",
    grub_packages=(("i386-pc", "grub2-pc"), ("x86_64-efi", "grub2-efi-binary")),
    signed_boot_packages=("shim", "grub2-efi-binary"),
)
