"""Fix: repair a filesystem, unmounted, with its own tool.

XFS keeps its last metadata changes in a log that only a mount replays; xfs_repair refuses to
run over a dirty log. So the XFS plan mounts once (replay) and unmounts before xfs_repair.
When that mount fails too, the only way on is `xfs_repair -L`, which throws the log away:
a separate plan that needs a second, explicit confirmation naming that loss."""

from __future__ import annotations

from pathlib import Path

from rescuetui.checks.base import Finding
from rescuetui.fixes.base import FixPlan, Step

FIX = "fsck"
FIX_ZERO_LOG = "fsck-zero-log"
NOT_UNDOABLE = "Not undoable by rescuetui: a filesystem repair changes blocks, not files."


def plan_fsck(finding: Finding, workdir: Path | None = None) -> FixPlan:
    """`workdir`: an empty directory of the session where an XFS log may be replayed."""
    device, fstype = finding.data["device"], finding.data.get("fstype")
    plan = FixPlan(FIX, why=finding.summary,
                   risk="Medium: fsck changes the filesystem's metadata; files it cannot place "
                        "go to lost+found. Not undoable: image the disk first if its data "
                        "matters.",
                   files=[f"{device} (filesystem metadata)"], undo=NOT_UNDOABLE)
    if fstype in ("ext2", "ext3", "ext4"):
        # 1 and 2: errors corrected. 4 and up: errors left, or the check failed.
        plan.steps = [Step(["e2fsck", "-f", "-y", device], in_chroot=False, ok_codes=(0, 1, 2))]
    elif fstype == "xfs":
        if finding.finding in ("dirty-log", "bad-log"):
            mountpoint = str(workdir or Path("/run/rescuetui/replay"))
            plan.steps = [
                Step(["mkdir", "-p", mountpoint], in_chroot=False),
                Step(["mount", "-t", "xfs", "-o", "nouuid,nosuid,nodev,noexec", device,
                      mountpoint],
                     in_chroot=False),
                Step(["umount", mountpoint], in_chroot=False),
            ]
            plan.risk += (" The filesystem is mounted once (on the rescue host, not in the "
                          "target) so the kernel replays its log, then unmounted.")
        plan.steps.append(Step(["xfs_repair", device], in_chroot=False))
    else:
        plan.blocked = f"rescuetui has no repair for {fstype} filesystems."
    return plan


def plan_xfs_zero_log(finding: Finding, failure: str) -> FixPlan:
    """After the log could not be replayed: throw it away and repair. Loses recent changes."""
    device = finding.data["device"]
    loss = (f"xfs_repair -L destroys the log of {device}: the metadata changes it holds (the "
            "last seconds to minutes before the crash) are lost, and files changed then may be "
            "truncated, emptied or moved to lost+found.")
    return FixPlan(
        FIX_ZERO_LOG,
        why=f"{finding.summary} Mounting to replay the log failed: {failure}",
        risk="High: " + loss + " Image the disk first (dd, qemu-img convert) if its data matters.",
        steps=[Step(["xfs_repair", "-L", device], in_chroot=False)],
        files=[f"{device} (filesystem metadata and log)"],
        undo=NOT_UNDOABLE + " Only an image taken before can bring the log back.",
        second_confirmation=loss,
    )
