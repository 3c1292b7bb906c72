"""Fix: repair a filesystem, unmounted, with its own tool."""

from __future__ import annotations

from rescuetui.checks.base import Finding
from rescuetui.fixes.base import FixPlan, Step

FIX = "fsck"


def plan_fsck(finding: Finding) -> FixPlan:
    device, fstype = finding.data["device"], finding.data.get("fstype")
    plan = FixPlan(FIX, why=finding.summary,
                   risk="Medium: fsck changes the filesystem's metadata; files it cannot place "
                        "go to lost+found. Not undoable: image the disk first if its data "
                        "matters.",
                   files=[f"{device} (filesystem metadata)"],
                   undo="Not undoable by rescuetui: a filesystem repair changes blocks, not files.")
    if fstype in ("ext2", "ext3", "ext4"):
        # 1 and 2: errors corrected. 4 and up: errors left, or the check failed.
        plan.steps = [Step(["e2fsck", "-f", "-y", device], in_chroot=False, ok_codes=(0, 1, 2))]
    elif fstype == "xfs":
        plan.steps = [Step(["xfs_repair", device], in_chroot=False)]
    else:
        plan.blocked = f"rescuetui has no repair for {fstype} filesystems."
    return plan
