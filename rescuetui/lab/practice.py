"""The bootable practice base: the Debian 12 two-partition image with GRUB (BIOS), a serial
console and a known root password. Built once from the cached tree, then copied per scenario."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

from rescuetui.core.errors import RescueError
from rescuetui.core.session import RescueSession
from rescuetui.lab.debian import CACHE, PACKAGES, two_partition_image
from rescuetui.lab.disk import BuiltDisk

ROOT_PASSWORD = "rescue"  # what the trainee logs in with; these disks are practice systems
HOSTNAME = "practice"
SERIAL = "console=tty0 console=ttyS0,115200n8"
DEFAULT_GRUB = f"""\
# Practice system: GRUB and the kernel talk on the first serial port.
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="{SERIAL}"
GRUB_TERMINAL="serial console"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
"""
# Bump when the recipe below changes, so cached bases are rebuilt.
RECIPE = "2"


def base_image_path(cache: Path = CACHE) -> Path:
    key = hashlib.sha256(f"{RECIPE} {PACKAGES} {DEFAULT_GRUB}".encode()).hexdigest()[:8]
    return cache / f"practice-base-{key}.img"


def practice_base(cache: Path = CACHE) -> Path:
    """The cached bootable base image, built when missing (about half a minute after the tree)."""
    image = base_image_path(cache)
    if image.is_file():
        return image
    partial = image.with_suffix(".partial")
    built = two_partition_image(partial, cache)
    install_boot_loader(built, cache / "journal")
    os.replace(partial, image)
    return image


def install_boot_loader(built: BuiltDisk, journal_base: Path) -> None:
    """GRUB for BIOS on the image's own disk, a serial console, the trainee's password.

    Runs inside the image's chroot through rescuetui's own session, so the build is journaled
    like any repair.
    """
    root_uuid = built.part("/").uuid
    with RescueSession(journal_base=journal_base) as session:
        session.open_target(str(built.image))
        session.make_writable()
        journal = session.journal
        assert journal is not None and session.target is not None
        journal.change_file(session.root, "/etc/default/grub", DEFAULT_GRUB.encode(),
                            reason="practice base: serial console")
        journal.change_file(session.root, "/etc/hostname", f"{HOSTNAME}\n".encode(),
                            reason="practice base: hostname")
        loop = session.target.disk
        for argv in (
            ["sh", "-c", f"echo root:{ROOT_PASSWORD} | chpasswd"],
            # debootstrap built the initramfs before there was an fstab: rebuild it so that it
            # carries fsck for the root filesystem, as an installed system's does.
            ["update-initramfs", "-u", "-k", "all"],
            ["grub-install", "--target=i386-pc", "--boot-directory=/boot", loop],
            ["update-grub"],
        ):
            result = session.runner.run_blocking(argv, in_chroot=True)
            if not result.ok:
                raise RescueError(f"Building the practice base failed: {result.describe_failure()}")
        # Without udev, grub-mkconfig names the build host's loop device; the disk boots as
        # something else, so root= must be the UUID.
        cfg_path = session.root / "boot/grub/grub.cfg"
        cfg = cfg_path.read_text()
        fixed = re.sub(r"root=/dev/loop\d+p\d+", f"root=UUID={root_uuid}", cfg)
        if f"root=UUID={root_uuid}" not in fixed:
            raise RescueError("grub.cfg of the practice base has no root= to correct.")
        journal.change_file(session.root, "/boot/grub/grub.cfg", fixed.encode(),
                            reason="practice base: root= by UUID")


def copy_image(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "--sparse=always", str(source), str(dest)], check=True)
