"""Debian, Ubuntu and their derivatives."""

from rescuetui.core.distros.base import DistroFamily

DEBIAN = DistroFamily(
    name="debian",
    ids=frozenset({"debian", "ubuntu", "linuxmint", "pop", "raspbian", "kali", "devuan"}),
    initramfs_pattern="initrd.img-{version}",
    bootloader_configs=("/boot/grub/grub.cfg", "/boot/efi/EFI/{id}/grub.cfg"),
    # Offline from /var/cache/apt/archives when the .deb is there, else from the network.
    reinstall_command=("apt-get", "install", "--reinstall", "-y", "--no-install-recommends",
                       "{packages}"),
    owner_command=("dpkg", "-S", "{path}"),
    kernel_package_pattern="linux-image-{version}",
    grub_command=("grub-mkconfig", "-o", "/boot/grub/grub.cfg"),
    verify_command=("dpkg", "--verify"),
    grub_packages=(("i386-pc", "grub-pc-bin"), ("x86_64-efi", "grub-efi-amd64-bin"),
                   ("arm64-efi", "grub-efi-arm64-bin")),
    signed_boot_packages=("shim-signed", "grub-efi-amd64-signed"),
)
