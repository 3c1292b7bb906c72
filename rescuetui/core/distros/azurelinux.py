"""Azure Linux (formerly CBL-Mariner)."""

from rescuetui.core.distros.base import DistroFamily

AZURE_LINUX = DistroFamily(
    name="azurelinux",
    ids=frozenset({"azurelinux", "mariner"}),
    initramfs_pattern="initramfs-{version}.img",
    bootloader_configs=("/boot/grub2/grub.cfg", "/boot/efi/boot/grub2/grub.cfg"),
    reinstall_command=("tdnf", "reinstall", "-y", "{packages}"),
    owner_command=("rpm", "-qf", "{path}"),
    # The package is `kernel` and its version-release is the kernel's: 6.6.47.1-1.azl3.
    kernel_package_pattern="kernel-{version}",
    grub_command=("grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"),
    verify_command=("rpm", "-V"),
    grub_install="grub2-install",
    grub_packages=(("i386-pc", "grub2-pc"), ("x86_64-efi", "grub2-efi-binary")),
    signed_boot_packages=("shim", "grub2-efi-binary"),
    package_db="rpm",
)
