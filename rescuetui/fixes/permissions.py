"""Fix: restore the mode of files boot needs, from the host side (when the loader cannot run,
nothing in the chroot can)."""

from __future__ import annotations

import io
import subprocess
import tarfile

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.packages import cached_deb, debian_owner
from rescuetui.fixes.base import FileEdit, FixPlan

FIX = "permissions-restore"


def packaged_mode(ctx: TargetContext, path: str) -> int | None:
    """The mode the owning package ships for `path` (Debian: from the .deb in the target's apt
    cache, read with the rescue host's dpkg-deb)."""
    owner = debian_owner(ctx, path)
    deb = cached_deb(ctx, owner[0]) if owner else None
    if owner is None or deb is None:
        return None
    try:
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    wanted = {"." + owner[1], "." + path}
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        for member in archive:
            if member.name in wanted and member.isfile():
                return member.mode & 0o7777
    return None


def plan_permissions_restore(ctx: TargetContext, finding: Finding) -> FixPlan:
    plan = FixPlan(FIX, why=finding.summary,
                   risk="Low: only modes change, each file's old mode is in the journal.",
                   undo="rescuetui undo restores the old modes.")
    for wrong in finding.data.get("files", []):
        path = wrong["path"]
        mode = packaged_mode(ctx, path)
        source = "from its package" if mode is not None else "the usual mode"
        mode = mode if mode is not None else int(wrong["expected"], 8)
        plan.edits.append(FileEdit(path, f"restore mode {mode:04o} ({source})", mode=mode))
        plan.files.append(f"{path} ({wrong['mode']} -> {mode:04o}, {source})")
    return plan
