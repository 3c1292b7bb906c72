"""Fix: put back a destroyed primary superblock from an intact backup, before anything looks
for the root: ext2/3/4 with `e2fsck -b BLOCK -B SIZE` (it rewrites the primary and repairs),
XFS with `xfs_repair` (it finds the secondary superblocks itself and rewrites the primary).

The start of the filesystem is backed up first (through the journal's disk regions), so that
undo can put the damaged bytes back; the repair itself changes other blocks too."""

from __future__ import annotations

from pathlib import Path

from rescuetui.checks.base import Finding
from rescuetui.core.diskbytes import DiskRegion
from rescuetui.core.inventory import BlockDevice
from rescuetui.core.probe import probe_device
from rescuetui.core.superblock import DAMAGED_REGION_BYTES
from rescuetui.fixes.base import FixPlan, Step

FIX = "superblock-restore"
SECTOR = 512
EXT_TYPES = frozenset({"ext2", "ext3", "ext4"})  # one filesystem; the name is its features


def region_of(device: BlockDevice) -> tuple[str, int]:
    """The whole disk a device's bytes are written through, and where on it the device
    starts: a partition's start from sysfs; a logical volume is its own disk."""
    if device.devtype != "partition" or device.parent is None:
        return device.path, 0
    start = Path("/sys/class/block") / device.name / "start"
    return device.parent, int(start.read_text().strip()) * SECTOR


def plan_superblock_restore(finding: Finding, device: BlockDevice) -> FixPlan:
    data = finding.data
    path = data["device"]
    plan = FixPlan(
        FIX, why=f"{finding.summary} Restore the primary superblock from it?",
        risk="Medium: the filesystem check that restores the superblock also repairs what it "
             "finds (files it cannot place go to lost+found). The first MiB of the filesystem "
             "(the damaged superblock) is backed up first; the repair's other changes are not "
             "undoable: image the disk first if its data matters.",
        files=[f"{path} (superblock and filesystem metadata)"],
        undo="rescuetui undo writes the backed-up first MiB of the filesystem back (the "
             "damaged superblock: it does not boot again after that).",
        data={"device": path, "fstype": data["fstype"], "uuid": data["uuid"]})
    if data.get("busy"):
        plan.blocked = (f"{path} must not be written: {data['busy']}. Unmount it (and stop "
                        "what uses it), then run the repair again.")
        return plan
    if data["fstype"] == "xfs":
        # xfs_repair looks for the secondary superblocks itself and writes the primary back.
        # Status 2: it stopped at a dirty log after writing the primary; the filesystem
        # check that follows replays the log with a mount and repairs (fixes/fsck.py).
        plan.steps = [Step(["xfs_repair", path], in_chroot=False, ok_codes=(0, 2))]
    else:
        # 1 and 2: errors corrected (the primary superblock always is). 4 and up: left.
        plan.steps = [Step(["e2fsck", "-f", "-y", "-b", str(data["block"]),
                            "-B", str(data["block_size"]), path],
                           in_chroot=False, ok_codes=(0, 1, 2))]
    disk, start = region_of(device)
    length = min(DAMAGED_REGION_BYTES, device.size)
    plan.disk = disk
    plan.regions = [DiskRegion(start, length, f"the start of {path} (its primary superblock)",
                               filesystem=True)]
    return plan


def verify_restored(plan: FixPlan) -> Finding:
    """libblkid identifies the filesystem again, with the UUID its backup superblock named."""
    path, fstype, uuid = plan.data["device"], plan.data["fstype"], plan.data["uuid"]
    ident = probe_device(path)
    data = {"device": path, "fstype": ident.fstype, "uuid": ident.uuid}
    same_kind = ident.fstype == fstype or {ident.fstype, fstype} <= EXT_TYPES
    if same_kind and (ident.uuid or "").lower() == uuid.lower():
        return Finding("superblock", True, "ok", f"{path} is {fstype} again with UUID {uuid}.",
                       data=data)
    seen = f"{ident.fstype} with UUID {ident.uuid}" if ident.fstype else "nothing"
    return Finding("superblock", False, "destroyed", f"{path}: libblkid still sees {seen}, "
                   f"not {fstype} with UUID {uuid}.", data=data)
