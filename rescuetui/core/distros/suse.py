"""SUSE Linux Enterprise and openSUSE."""

from rescuetui.core.distros.base import DistroFamily

SUSE = DistroFamily(
    name="suse",
    ids=frozenset({"sles", "sled", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "suse",
                   "sles_sap"}),
    initramfs_pattern="initrd-{version}",
    bootloader_configs=("/boot/grub2/grub.cfg", "/boot/efi/EFI/{id}/grub.cfg"),
    reinstall_command=("zypper", "--non-interactive", "install", "--force", "{packages}"),
    owner_command=("rpm", "-qf", "{path}"),
    # SUSE names the package by flavour (6.4.0-150600.23.7-default: kernel-default); the
    # exact one (its release has one more part, .1) comes from the RPM database.
    kernel_package_pattern="kernel-{flavour}-{base}",
    grub_command=("grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"),
    verify_command=("rpm", "-V"),
    grub_install="grub2-install",
    grub_packages=(("i386-pc", "grub2-i386-pc"), ("x86_64-efi", "grub2-x86_64-efi"),
                   ("arm64-efi", "grub2-arm64-efi")),
    signed_boot_packages=("shim", "grub2-x86_64-efi"),
    package_db="rpm",
)
