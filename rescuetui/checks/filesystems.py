"""Check: a filesystem needs repair. Runs on the unmounted device, read-only (e2fsck -n,
xfs_repair -n): never on a mounted filesystem."""

from __future__ import annotations

from rescuetui.checks.base import Finding
from rescuetui.core.errors import RescueError
from rescuetui.core.mountinfo import current_mounts
from rescuetui.core.runner import CommandRunner

CHECK = "filesystem"


def check_filesystem(runner: CommandRunner, device: str, fstype: str | None) -> Finding:
    data = {"device": device, "fstype": fstype}
    if any(m.source == device for m in current_mounts()):
        raise RescueError(f"{device} is mounted; rescuetui never checks a mounted filesystem.")
    if fstype in ("ext2", "ext3", "ext4", None):
        # None: libblkid found nothing, which is also what a destroyed primary superblock looks
        # like; e2fsck then says it is trying the backup superblocks.
        result = runner.run_blocking(["e2fsck", "-n", "-f", device], timeout=3600, look=True)
        clean = result.returncode == 0
    elif fstype == "xfs":
        result = runner.run_blocking(["xfs_repair", "-n", device], timeout=3600, look=True)
        clean = result.returncode == 0
    else:
        return Finding(CHECK, True, "ok", f"{device}: no read-only check for {fstype}.",
                       data=data)
    if clean:
        return Finding(CHECK, True, "ok", f"{device} ({fstype}) is clean.", data=data)
    # Exit status 8: e2fsck found no superblock to open, primary or backup. (Its "trying
    # backup blocks" line comes first and may have scrolled out of the output's tail.)
    if fstype is None and (result.returncode is None or result.returncode & 8):
        return Finding(CHECK, True, "ok", f"{device} holds no ext filesystem.", data=data)
    interesting = [t for t in result.tail if t.strip() and not t.startswith(("Pass ", "Phase "))]
    if fstype is None:
        data["fstype"] = "ext4"  # e2fsck handles ext2, ext3 and ext4 alike
        return Finding(CHECK, False, "errors", f"{device} is an ext filesystem whose primary "
                       "superblock is damaged (libblkid cannot see it); e2fsck can restore it "
                       "from a backup.", evidence=interesting[-8:], data=data)
    text = "\n".join(result.tail)
    if fstype == "xfs" and "cannot find log head/tail" in text:
        return Finding(CHECK, False, "bad-log", f"{device} (xfs) has a log that cannot be read: "
                       "a mount may still replay it; if not, only xfs_repair -L (which loses the "
                       "log's changes) goes on.", evidence=interesting[-8:], data=data)
    if fstype == "xfs" and "valuable metadata changes in a log" in text:
        return Finding(CHECK, False, "dirty-log", f"{device} (xfs) was not unmounted cleanly: "
                       "its log holds changes a mount replays before xfs_repair can run.",
                       evidence=interesting[-8:], data=data)
    return Finding(CHECK, False, "errors", f"{device} ({fstype}) has errors that need repair "
                   f"(exit status {result.returncode}).", evidence=interesting[-8:], data=data)
