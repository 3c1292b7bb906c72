"""Repairs: each one a plan (commands, files, diff preview), then apply, verify and undo."""

from __future__ import annotations

from collections.abc import Callable

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.fixes.base import FixPlan
from rescuetui.fixes.bls import plan_bls
from rescuetui.fixes.bootloader import plan_bootloader
from rescuetui.fixes.esp import plan_esp
from rescuetui.fixes.fstab import plan_fstab_nofail
from rescuetui.fixes.grub_install import plan_grub_reinstall
from rescuetui.fixes.initramfs import plan_initramfs_rebuild
from rescuetui.fixes.kernel_cmdline import plan_kernel_cmdline
from rescuetui.fixes.module_blacklist import plan_module_blacklist
from rescuetui.fixes.packages import plan_kernel_reinstall, plan_package_reinstall
from rescuetui.fixes.permissions import plan_permissions_restore
from rescuetui.fixes.prevention import plan_kdump, plan_serial_console
from rescuetui.fixes.previous_kernel import plan_previous_kernel
from rescuetui.fixes.remove_old_kernels import plan_remove_old_kernels
from rescuetui.fixes.selinux import plan_selinux_permissive, plan_selinux_relabel

Planner = Callable[[TargetContext, Finding], FixPlan]


def plan_selinux(ctx: TargetContext, finding: Finding) -> FixPlan:
    """Unlabeled files: relabel on the next boot. No policy, or a config SELinux cannot read:
    permissive, so that the system boots and the policy can be reinstalled."""
    if finding.finding == "unlabeled":
        return plan_selinux_relabel(ctx, finding)
    return plan_selinux_permissive(ctx, finding)


# The fix for each check's problem, in the order a repair applies them: what lets the chroot
# run at all first, then packages (whose hooks rebuild images), then images, then configs.
FIX_FOR_CHECK: dict[str, Planner] = {
    "permissions": plan_permissions_restore,
    "libraries": plan_package_reinstall,
    "kernel-image": plan_kernel_reinstall,
    "packages": plan_package_reinstall,
    "boot-space": plan_remove_old_kernels,  # room first, or a rebuilt initramfs is cut short
    "initramfs": plan_initramfs_rebuild,
    "esp": plan_esp,
    "boot-code": plan_grub_reinstall,
    "bootloader": plan_bootloader,
    "bls": plan_bls,
    "kernel-cmdline": plan_kernel_cmdline,
    "fstab": plan_fstab_nofail,
    "selinux": plan_selinux,
}
# Fixes the diagnosis calls for (not a check): after a run-time panic a repair applies one way
# out unasked, the previous kernel or a blacklist of the out-of-tree module the trace blames
# (fixes/runtime_way.py chooses and says why); the others change how the system runs, so a
# repair only suggests them unless --fix names them (the text says what each does).
DIAGNOSIS_FIXES: dict[str, Planner] = {
    "previous-kernel": plan_previous_kernel,
    "module-blacklist": plan_module_blacklist,
    "serial-console": plan_serial_console,
    "kdump-enable": plan_kdump,
}
OPT_IN_FIXES: dict[str, str] = {
    "module-blacklist": "keep the module the panic points at from loading, and rebuild the "
                        "initramfs without it",
    "serial-console": "send the kernel's and GRUB's console to the first serial port too, so "
                      "the next failure can be read from the hypervisor's serial log",
    "kdump-enable": "reserve crash kernel memory and enable kdump, so the next panic leaves a "
                    "vmcore and its dmesg",
}
FIX_IDS = ("permissions-restore", "package-reinstall", "kernel-reinstall", "initramfs-rebuild",
           "grub-reinstall", "grub-reinstall-uefi", "esp-fsck", "esp-boot-sector-restore",
           "esp-recreate", "bls-root", "bootloader-root", "bootloader-regenerate", "kernel-cmdline",
           "fstab-nofail", "fstab-correct-uuid", "fsck", "fsck-zero-log", "superblock-restore",
           "selinux-permissive", "selinux-relabel", "remove-old-kernels",
           *DIAGNOSIS_FIXES)
