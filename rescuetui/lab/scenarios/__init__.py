"""The practice scenarios, one module each."""

from __future__ import annotations

from rescuetui.lab.scenario import Scenario
from rescuetui.lab.scenarios import (
    bad_init,
    boot_superblock_destroyed,
    dracut_initramfs_deleted,
    dracut_initramfs_truncated,
    dracut_rd_break,
    dracut_root_uuid_wrong,
    esp_damaged,
    esp_fstab_wrong,
    esp_loader_deleted,
    fstab_missing_disk,
    grub_cfg_deleted,
    grub_modules_deleted,
    init_target_deleted,
    initramfs_deleted,
    initramfs_no_disk_driver,
    initramfs_truncated,
    kernel_truncated,
    libc_deleted,
    library_deleted,
    loader_not_executable,
    mbr_zeroed,
    module_panic,
    newest_kernel_panics,
    root_fs_errors,
    root_superblock_destroyed,
    xfs_lvm_dirty_log,
    xfs_lvm_initramfs_deleted,
    xfs_lvm_initramfs_no_lvm,
    xfs_lvm_log_lost,
)

SCENARIOS: dict[str, Scenario] = {
    module.SCENARIO.name: module.SCENARIO
    for module in (initramfs_deleted, kernel_truncated, library_deleted, loader_not_executable,
                   fstab_missing_disk, root_fs_errors, initramfs_truncated, libc_deleted,
                   grub_cfg_deleted, grub_modules_deleted, mbr_zeroed, bad_init,
                   initramfs_no_disk_driver, esp_loader_deleted, esp_fstab_wrong, esp_damaged,
                   dracut_initramfs_deleted, dracut_initramfs_truncated, dracut_rd_break,
                   dracut_root_uuid_wrong, init_target_deleted,
                   module_panic, newest_kernel_panics, root_superblock_destroyed,
                   boot_superblock_destroyed,
                   xfs_lvm_initramfs_deleted, xfs_lvm_dirty_log, xfs_lvm_log_lost,
                   xfs_lvm_initramfs_no_lvm)
}


def scenario(name: str) -> Scenario:
    from rescuetui.core.errors import RescueError

    if name not in SCENARIOS:
        raise RescueError(f"No practice scenario named {name!r}; `rescuetui lab list` shows them.")
    return SCENARIOS[name]
