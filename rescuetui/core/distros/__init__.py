"""Distro families: one module each holds what differs between them. Adding a distro is one module."""

from __future__ import annotations

from rescuetui.core.distros.arch import ARCH
from rescuetui.core.distros.azurelinux import AZURE_LINUX
from rescuetui.core.distros.base import DistroFamily
from rescuetui.core.distros.debian import DEBIAN
from rescuetui.core.distros.rhel import RHEL
from rescuetui.core.distros.suse import SUSE

FAMILIES: tuple[DistroFamily, ...] = (DEBIAN, RHEL, SUSE, AZURE_LINUX, ARCH)


def family_for(os_release: dict[str, str]) -> DistroFamily | None:
    """The family of a system from its os-release: ID first, then each ID_LIKE in order; then
    the family as its release has it (VERSION_ID)."""
    ids = [os_release.get("ID", "").lower()] + os_release.get("ID_LIKE", "").lower().split()
    for ident in ids:
        for family in FAMILIES:
            if ident in family.ids:
                return family.for_release(os_release)
    return None


__all__ = ["DistroFamily", "FAMILIES", "family_for"]
