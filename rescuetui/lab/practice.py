"""The bootable practice base: the Debian 12 two-partition image with GRUB (BIOS), a serial
console and a known root password. Built once from the cached tree, then copied per scenario."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from rescuetui.core.errors import RescueError
from rescuetui.core.rootpath import resolve_in_root
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
    return cached_base(base_image_path(cache), lambda partial: install_boot_loader(
        two_partition_image(partial, cache), cache / "journal"))


def cached_base(image: Path, build: Callable[[Path], None]) -> Path:
    """`image`, built by `build` into a .partial beside it when missing, then renamed into
    place: an interrupted build never leaves a half image that later runs would take."""
    if image.is_file():
        return image
    partial = image.with_suffix(".partial")
    build(partial)
    os.replace(partial, image)
    return image


def make_practice_system(session: RescueSession) -> None:
    """What every practice base has: GRUB and the kernel on the serial port, its hostname,
    the trainee's root password."""
    journal = session.journal
    assert journal is not None
    journal.change_file(session.root, "/etc/default/grub", DEFAULT_GRUB.encode(),
                        reason="practice base: serial console")
    journal.change_file(session.root, "/etc/hostname", f"{HOSTNAME}\n".encode(),
                        reason="practice base: hostname")
    run_in_chroot(session, ["sh", "-c", f"echo root:{ROOT_PASSWORD} | chpasswd"])


def run_in_chroot(session: RescueSession, argv: list[str]) -> None:
    result = session.runner.run_blocking(argv, in_chroot=True)
    if not result.ok:
        raise RescueError(f"Building the practice base failed: {result.describe_failure()}")


def add_kernel_parameter(session: RescueSession, param: str, why: str) -> str:
    """`param` added to GRUB_CMDLINE_LINUX and to every entry of grub.cfg (both journaled)."""
    assert session.journal is not None
    for path, pattern, tail in (("/etc/default/grub", r'^(GRUB_CMDLINE_LINUX=".*)"$', '"'),
                                ("/boot/grub/grub.cfg", r"^(\s*linux\s+/vmlinuz\S*\s.*)$", "")):
        text = resolve_in_root(session.root, path).read_text()

        def add(match: re.Match[str], end: str = tail) -> str:
            return match.group(1).rstrip() + f" {param}{end}"

        changed = re.sub(pattern, add, text, flags=re.M)
        session.journal.change_file(session.root, path, changed.encode(), reason=f"lab: {why}")
    return f"added {param} to GRUB_CMDLINE_LINUX and to every entry of grub.cfg"


def root_by_uuid(session: RescueSession, root_uuid: str) -> None:
    """Without udev, grub-mkconfig names the build host's loop device; the disk boots as
    something else, so root= must be the UUID."""
    assert session.journal is not None
    cfg = resolve_in_root(session.root, "/boot/grub/grub.cfg").read_text()
    fixed = re.sub(r"root=/dev/loop\d+p\d+", f"root=UUID={root_uuid}", cfg)
    if f"root=UUID={root_uuid}" not in fixed:
        raise RescueError("grub.cfg of the practice base has no root= to correct.")
    session.journal.change_file(session.root, "/boot/grub/grub.cfg", fixed.encode(),
                                reason="practice base: root= by UUID")


def install_boot_loader(built: BuiltDisk, journal_base: Path) -> None:
    """GRUB for BIOS on the image's own disk, a serial console, the trainee's password.

    Runs inside the image's chroot through rescuetui's own session, so the build is journaled
    like any repair.
    """
    with RescueSession(journal_base=journal_base) as session:
        session.open_target(str(built.image))
        session.make_writable()
        assert session.target is not None
        make_practice_system(session)
        for argv in (
            # debootstrap built the initramfs before there was an fstab: rebuild it so that it
            # carries fsck for the root filesystem, as an installed system's does.
            ["update-initramfs", "-u", "-k", "all"],
            ["grub-install", "--target=i386-pc", "--boot-directory=/boot", session.target.disk],
            ["update-grub"],
        ):
            run_in_chroot(session, argv)
        root_by_uuid(session, built.part("/").uuid)


def copy_image(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "--sparse=always", str(source), str(dest)], check=True)
