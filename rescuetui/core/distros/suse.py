"""SUSE Linux Enterprise and openSUSE."""

from rescuetui.core.distros.base import DistroFamily

SUSE = DistroFamily(
    name="suse",
    ids=frozenset({"sles", "sled", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "suse",
                   "sles_sap"}),
    initramfs_pattern="initrd-{version}",
    bootloader_configs=("/boot/grub2/grub.cfg", "/boot/efi/EFI/{id}/grub.cfg"),
)
