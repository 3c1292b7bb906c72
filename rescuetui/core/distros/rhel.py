"""Red Hat Enterprise Linux, CentOS, AlmaLinux, Rocky, Oracle Linux, Amazon Linux and Fedora."""

from dataclasses import replace

from rescuetui.core.distros.base import DistroFamily, Release

RHEL = DistroFamily(
    name="rhel",
    ids=frozenset({"rhel", "centos", "almalinux", "rocky", "ol", "fedora", "amzn", "cloudlinux"}),
    initramfs_pattern="initramfs-{version}.img",
    bootloader_configs=(
        "/boot/grub2/grub.cfg", "/boot/efi/EFI/{id}/grub.cfg", "/boot/loader/entries",
    ),
    reinstall_command=("dnf", "reinstall", "-y", "{packages}"),
    owner_command=("rpm", "-qf", "{path}"),
    kernel_package_pattern="kernel-core-{version}",
    grub_command=("grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"),
    verify_command=("rpm", "-V"),
    grub_install="grub2-install",
    grub_packages=(("i386-pc", "grub2-pc-modules"), ("x86_64-efi", "grub2-efi-x64"),
                   ("arm64-efi", "grub2-efi-aa64")),
    signed_boot_packages=("shim-x64", "grub2-efi-x64"),
    package_db="rpm",
)
# RHEL, CentOS, Oracle Linux and CloudLinux 7 and Amazon Linux 2 have yum, not dnf, and one
# kernel package, `kernel`, where 8 and later split out kernel-core.
YUM = replace(RHEL, reinstall_command=("yum", "reinstall", "-y", "{packages}"),
              kernel_package_pattern="kernel-{version}")
# Amazon Linux 2023 has dnf, and kept the one `kernel` package of Amazon Linux 2.
AMAZON_2023 = replace(RHEL, kernel_package_pattern="kernel-{version}")
RHEL = replace(RHEL, releases=(
    Release(frozenset({"rhel", "centos", "ol", "cloudlinux", "scientific"}), "7", YUM),
    Release(frozenset({"amzn"}), "2", YUM),
    Release(frozenset({"amzn"}), "2023", AMAZON_2023),
))
