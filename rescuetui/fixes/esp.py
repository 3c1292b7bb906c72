"""Fix: the ESP's FAT filesystem, which is never mounted on the rescue host. Errors: fsck.vfat
-a. A destroyed boot sector: FAT32's backup copy (sector 6) put back. Unreadable beyond that:
recreated with the same volume serial (so fstab still names it), only after a typed
confirmation that names what is lost; the loaders come back with the next fix. The whole ESP
is backed up first, so undo puts every byte back."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.bootchain import SECTOR
from rescuetui.core.diskbytes import DiskRegion, read_region
from rescuetui.core.errors import RescueError
from rescuetui.core.inventory import scan_inventory
from rescuetui.fixes.base import FixPlan, Step
from rescuetui.fixes.grub_install import plan_grub_reinstall_uefi

FSCK = "esp-fsck"
RESTORE = "esp-boot-sector-restore"
RECREATE = "esp-recreate"
FAT32_BACKUP_SECTOR = 6


def _backup_boot_sector_valid(sector: bytes) -> bool:
    return (len(sector) == SECTOR and sector[510:512] == b"\x55\xaa"
            and sector[0x52:0x5A] == b"FAT32   "
            and int.from_bytes(sector[11:13], "little") in (512, 1024, 2048, 4096))


def plan_esp(ctx: TargetContext, finding: Finding) -> FixPlan:
    if finding.finding in ("loader-missing", "modules-missing"):
        return plan_grub_reinstall_uefi(ctx, finding)
    if finding.finding == "stub-wrong":
        return FixPlan(FSCK, why=finding.summary, risk="-", blocked=(
            "rescuetui does not rewrite a stub grub.cfg on the ESP yet: read it with `mtype -i "
            f"{finding.data.get('device')} ::/EFI/<id>/grub.cfg`, correct the UUID to /boot's, "
            "and write it back with `mcopy -o -i DEVICE FILE ::/EFI/<id>/grub.cfg`."))
    chain = ctx.target.boot_chain
    device = str(finding.data.get("device") or "")
    span = chain.span(device) if chain else None
    if chain is None or span is None:
        return FixPlan(FSCK, why=finding.summary, risk="-",
                       blocked=f"The ESP {device or '?'} is not a partition of the chosen disk.")
    whole = DiskRegion(span.region.offset, span.region.length, f"the ESP ({device})")
    undo = "rescuetui undo writes the backed-up ESP back byte for byte."
    if finding.finding == "esp-damaged":
        plan = FixPlan(FSCK, why=finding.summary,
                       risk="Low: fsck.vfat -a repairs the FAT (it is not mounted anywhere); "
                            "the whole ESP is backed up first.", undo=undo)
        plan.steps = [Step(["fsck.vfat", "-a", "-w", device], in_chroot=False,
                           ok_codes=(0, 1))]
    else:
        try:
            backup = read_region(chain.disk, whole.offset + FAT32_BACKUP_SECTOR * SECTOR, SECTOR)
        except OSError as exc:
            raise RescueError(f"Could not read the ESP {device}: {exc.strerror}.") from exc
        if _backup_boot_sector_valid(backup):
            plan = FixPlan(RESTORE, why=finding.summary,
                           risk="Low: the boot sector is replaced by FAT32's own backup copy "
                                "(sector 6); the whole ESP is backed up first.", undo=undo)
            plan.steps = [Step(["dd", f"if={device}", f"of={device}", "bs=512",
                                f"skip={FAT32_BACKUP_SECTOR}", "seek=0", "count=1",
                                "conv=notrunc,fsync", "status=none"], in_chroot=False)]
        else:
            plan = _plan_recreate(ctx, finding, device, undo, whole.length)
    plan.disk, plan.regions = chain.disk, [whole]
    plan.files = [f"{device} (the ESP)"]
    return plan


def _plan_recreate(ctx: TargetContext, finding: Finding, device: str, undo: str,
                   size: int) -> FixPlan:
    entry = next((r for r in ctx.target.fstab
                  if r.entry.mountpoint in ("/boot/efi", "/efi") and r.entry.device.tag == "UUID"),
                 None)
    serial = entry.entry.device.value.replace("-", "") if entry else ""
    if len(serial) != 8 or any(c not in "0123456789abcdefABCDEF" for c in serial):
        found = scan_inventory().get(device)
        serial = (found.identity.uuid or "").replace("-", "") if found else ""
    plan = FixPlan(RECREATE, why=finding.summary,
                   risk="Data loss: the ESP is formatted anew. Everything on it is gone (other "
                        "boot loaders, vendor tools); the next fix writes GRUB's loaders back. "
                        "The whole ESP is backed up first.", undo=undo)
    # FAT32 as the UEFI specification wants it; one sector a cluster where the ESP is too
    # small for FAT32's minimum cluster count otherwise.
    argv = ["mkfs.vfat", "-F", "32"] + (["-s", "1"] if size < 256 << 20 else []) \
        + (["-i", serial] if len(serial) == 8 else []) + [device]
    plan.steps = [Step(argv, in_chroot=False)]
    plan.second_confirmation = (f"The ESP {device} cannot be read or repaired: recreating it "
                                "erases every file on it (other boot loaders, vendor files).")
    return plan
