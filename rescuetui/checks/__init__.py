"""Read-only examinations of a mounted target; each returns findings with evidence."""

from __future__ import annotations

from collections.abc import Callable

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.bls import check_bls
from rescuetui.checks.boot_code import check_boot_code
from rescuetui.checks.boot_space import check_boot_space
from rescuetui.checks.bootloader import check_bootloader
from rescuetui.checks.esp import check_esp
from rescuetui.checks.fstab import check_fstab
from rescuetui.checks.initramfs import check_initramfs
from rescuetui.checks.kernel_cmdline import check_kernel_cmdline
from rescuetui.checks.kernel_image import check_kernel_image
from rescuetui.checks.kernels import check_kernels
from rescuetui.checks.libraries import check_libraries
from rescuetui.checks.package_verify import check_package_verify
from rescuetui.checks.permissions import check_permissions
from rescuetui.checks.selinux import check_selinux
from rescuetui.checks.sysctl import check_sysctl

# Every boot check, in the order a repair should look: what runs nothing in the chroot first
# (a broken loader makes every chroot command fail), then what needs the chroot.
BOOT_CHECKS: dict[str, Callable[[TargetContext], Finding]] = {
    "permissions": check_permissions,
    "kernel-image": check_kernel_image,
    "boot-space": check_boot_space,
    "fstab": check_fstab,
    "boot-code": check_boot_code,
    "esp": check_esp,
    "bootloader": check_bootloader,
    "bls": check_bls,
    "kernel-cmdline": check_kernel_cmdline,
    "libraries": check_libraries,
    "packages": check_package_verify,
    "initramfs": check_initramfs,
    "selinux": check_selinux,
    "kernels": check_kernels,  # informational: whether a previous kernel is a way out
    "sysctl": check_sysctl,  # informational: the settings that make events panics
}

__all__ = ["BOOT_CHECKS", "Finding", "TargetContext"]
