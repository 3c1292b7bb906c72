"""The two-kernel practice base: the BIOS practice base with a second real kernel beside
Debian 12's 6.1, bookworm-backports' 6.12 (linux-image-cloud-amd64), the newest GRUB's
default, as a system that took a newer kernel looks. Built once, then copied per scenario."""

from __future__ import annotations

import hashlib
from pathlib import Path

from rescuetui.core.errors import RescueError
from rescuetui.core.rootpath import resolve_in_root
from rescuetui.core.session import RescueSession
from rescuetui.lab.debian import CACHE
from rescuetui.lab.faulty_module import BACKPORTS, BACKPORTS_LIST
from rescuetui.lab.practice import (
    SERIAL,
    base_image_path,
    cached_base,
    copy_image,
    practice_base,
    root_by_uuid,
    run_in_chroot,
)

DEFAULT_GRUB = "/etc/default/grub"
NEW_KERNEL_PACKAGE = "linux-image-cloud-amd64"
# Under qemu 7.2's TCG, 6.12 double-faults in the SLUB allocator's per-CPU fast path (its
# cmpxchg16b on %gs) while probing virtio; with slub_debug=F every allocation takes the slow
# path and it boots. Both kernels get it: 6.1 boots the same either way.
TCG_WORKAROUND = "slub_debug=F"
# Bump when the recipe below changes, so cached bases are rebuilt.
RECIPE = "2"


def two_kernel_base_path(cache: Path = CACHE) -> Path:
    recipe = (f"{RECIPE} {base_image_path(cache).name} {BACKPORTS} {NEW_KERNEL_PACKAGE} "
              f"{TCG_WORKAROUND}")
    return cache / f"two-kernel-base-{hashlib.sha256(recipe.encode()).hexdigest()[:8]}.img"


def two_kernel_base(cache: Path = CACHE) -> Path:
    """The cached two-kernel base image, built when missing (a download of the new kernel)."""
    return cached_base(two_kernel_base_path(cache),
                       lambda partial: install_backports_kernel(partial, cache))


def install_backports_kernel(image: Path, cache: Path = CACHE) -> None:
    """Copy the practice base to `image` and install the backports kernel into it with apt, in
    its chroot through rescuetui's own session (journaled like any repair)."""
    copy_image(practice_base(cache), image)
    with RescueSession(journal_base=cache / "journal") as session:
        target = session.open_target(str(image))
        session.make_writable()
        assert session.journal is not None
        if target.uuid is None:
            raise RescueError(f"The root filesystem of {image} has no UUID.")
        session.journal.change_file(session.root, BACKPORTS_LIST, BACKPORTS.encode(),
                                    reason="practice base: bookworm-backports", mode=0o644)
        grub = resolve_in_root(session.root, DEFAULT_GRUB).read_text()
        if f'GRUB_CMDLINE_LINUX="{SERIAL}"' not in grub:
            raise RescueError(f"{DEFAULT_GRUB} of the practice base has no serial console line.")
        session.journal.change_file(
            session.root, DEFAULT_GRUB,
            grub.replace(f'GRUB_CMDLINE_LINUX="{SERIAL}"',
                         f'GRUB_CMDLINE_LINUX="{SERIAL} {TCG_WORKAROUND}"').encode(),
            reason="practice base: 6.12 under qemu TCG")
        for argv in (
            ["apt-get", "update", "-q"],
            # The kernel's postinst hooks build its initramfs and run update-grub.
            ["apt-get", "install", "-y", "-q", "-t", "bookworm-backports", NEW_KERNEL_PACKAGE],
            ["apt-get", "clean"],
            ["update-grub"],
        ):
            run_in_chroot(session, argv)
        root_by_uuid(session, target.uuid)
