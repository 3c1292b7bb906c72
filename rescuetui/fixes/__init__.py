"""Repairs: each one a plan (commands, files, diff preview), then apply, verify and undo."""

from __future__ import annotations

from collections.abc import Callable

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.fixes.base import FixPlan
from rescuetui.fixes.bootloader import plan_bootloader
from rescuetui.fixes.fstab import plan_fstab_nofail
from rescuetui.fixes.initramfs import plan_initramfs_rebuild
from rescuetui.fixes.packages import plan_kernel_reinstall, plan_package_reinstall
from rescuetui.fixes.permissions import plan_permissions_restore

Planner = Callable[[TargetContext, Finding], FixPlan]

# The fix for each check's problem, in the order a repair applies them: what lets the chroot
# run at all first, then packages (whose hooks rebuild images), then images, then configs.
FIX_FOR_CHECK: dict[str, Planner] = {
    "permissions": plan_permissions_restore,
    "libraries": plan_package_reinstall,
    "kernel-image": plan_kernel_reinstall,
    "packages": plan_package_reinstall,
    "initramfs": plan_initramfs_rebuild,
    "bootloader": plan_bootloader,
    "fstab": plan_fstab_nofail,
}
FIX_IDS = ("permissions-restore", "package-reinstall", "kernel-reinstall", "initramfs-rebuild",
           "bootloader-root", "fstab-nofail", "fstab-correct-uuid", "fsck", "fsck-zero-log")
