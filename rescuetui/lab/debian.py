"""A Debian 12 tree from debootstrap, built once and cached outside the repository."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from rescuetui.lab.disk import BuiltDisk, Part, build_disk

CACHE = Path(os.environ.get("RESCUETUI_CACHE", "/var/cache/rescuetui"))
SUITE = "bookworm"
# Enough to boot and to be repaired: a kernel, an initramfs builder, systemd as init, GRUB for
# BIOS (grub-pc) and the x86_64-efi modules for the UEFI base (grub-efi-amd64-bin: no hooks).
PACKAGES = ("linux-image-cloud-amd64", "initramfs-tools", "systemd-sysv", "grub-pc",
            "grub-efi-amd64-bin")
# The package list is part of the name: a changed list builds a new tree beside the old one.
TREE_NAME = f"debian12-{SUITE}-" + hashlib.sha256(" ".join(PACKAGES).encode()).hexdigest()[:8]


def debian_tree(cache: Path = CACHE) -> Path:
    """The cached Debian tree, built with debootstrap (about a minute) when it is missing.

    Built in a temporary directory and renamed into place, so an interrupted build never
    leaves a half tree that later runs would take for a whole one.
    """
    tree = cache / TREE_NAME
    if (tree / "etc/os-release").is_file():
        return tree
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / (TREE_NAME + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
         str(partial)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # Packages downloaded by debootstrap stay in the tree's apt cache: tests install them
    # inside the chroot without a network.
    os.replace(partial, tree)
    return tree


def two_partition_image(image: Path, cache: Path = CACHE) -> BuiltDisk:
    """The Debian 12 tree on an msdos disk: /boot on ext4 partition 1, / on ext4 partition 2,
    fstab by UUID, as many cloud images are laid out."""
    parts = [
        Part(256, "ext4", "/boot", label="boot"),
        Part(None, "ext4", "/", label="root", fstab_options="errors=remount-ro"),
    ]
    return build_disk(image, parts, table="msdos", size_mb=1536, tree=debian_tree(cache))
