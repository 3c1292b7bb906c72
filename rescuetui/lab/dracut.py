"""The dracut practice base: the BIOS practice base with Debian's dracut in place of
initramfs-tools (apt removes initramfs-tools and leaves /etc/initramfs-tools behind, as on a
real system that switched), its initramfs built by dracut, generic (not host-only)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from rescuetui.core.session import RescueSession
from rescuetui.lab.debian import CACHE
from rescuetui.lab.practice import base_image_path, cached_base, copy_image, practice_base, run_in_chroot

# Bump when the recipe below changes, so cached bases are rebuilt.
RECIPE = "2"
PACKAGES = ("dracut",)


def dracut_base_path(cache: Path = CACHE) -> Path:
    recipe = f"{RECIPE} {PACKAGES} {base_image_path(cache).name}"
    return cache / f"dracut-base-{hashlib.sha256(recipe.encode()).hexdigest()[:8]}.img"


def dracut_base(cache: Path = CACHE) -> Path:
    """The cached dracut base, built from the practice base when missing (apt fetches dracut
    from the Debian mirror: a minute or two)."""
    return cached_base(dracut_base_path(cache),
                       lambda partial: install_dracut(practice_base(cache), partial,
                                                      cache / "journal"))


def install_dracut(source: Path, image: Path, journal_base: Path) -> None:
    copy_image(source, image)
    with RescueSession(journal_base=journal_base) as session:
        target = session.open_target(str(image))
        session.make_writable()
        kernel = target.kernels[0].version
        for argv in (
            ["apt-get", "update", "-q"],
            ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
             "--no-install-recommends", *PACKAGES],
            # The package's own hook built the image where the kernel is being installed; build
            # it again as the practice system's builder would on the machine itself: generic.
            ["dracut", "--force", "--no-hostonly", f"/boot/initrd.img-{kernel}", kernel],
        ):
            run_in_chroot(session, argv)
