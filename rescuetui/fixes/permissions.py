"""Fix: restore the modes and owners of files boot needs.

Single files are set from the host side (when the loader cannot run, nothing in the chroot
can), each one journaled with its old mode and owner; the mode comes from the owning package's
archive where there is one. On RPM systems, whole packages are reset by rpm itself:
--setugids first (chown clears setuid bits), then --setperms.
"""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.package_modes import shipped_entries
from rescuetui.checks.packages import cached_deb, debian_owner
from rescuetui.fixes.base import FileEdit, FixPlan, Step

FIX = "permissions-restore"


def packaged_mode(ctx: TargetContext, path: str) -> int | None:
    """The mode the owning package ships for `path` (Debian: from the .deb in the target's apt
    cache, read with the rescue host's dpkg-deb)."""
    owner = debian_owner(ctx, path)
    deb = cached_deb(ctx, owner[0]) if owner else None
    if owner is None or deb is None:
        return None
    wanted = {owner[1], path}
    return next((e.mode for e in shipped_entries(ctx.files, deb) if e.path in wanted), None)


def plan_permissions_restore(ctx: TargetContext, finding: Finding) -> FixPlan:
    plan = FixPlan(FIX, why=finding.summary,
                   risk="Low: only modes and owners change; each file's old mode and owner are "
                        "in the journal.",
                   undo="rescuetui undo restores the old modes and owners.")
    for wrong in finding.data.get("files", []):
        path = wrong["path"]
        mode = None if "package" in wrong else packaged_mode(ctx, path)
        source = ("from its package" if mode is not None or "package" in wrong
                  else "the usual mode")
        mode = mode if mode is not None else int(wrong["expected"], 8)
        uid = int(wrong["uid"]) if "uid" in wrong else None
        gid = int(wrong["gid"]) if "gid" in wrong else None
        owner = f", owner {uid}:{'' if gid is None else gid}" if uid is not None else ""
        plan.edits.append(FileEdit(path, f"restore mode {mode:04o}{owner} ({source})",
                                   mode=mode, uid=uid, gid=gid))
        plan.files.append(f"{path} ({wrong['mode']} -> {mode:04o}{owner}, {source})")
    packages = finding.data.get("rpm_packages", [])
    if packages:
        plan.steps = [Step(["rpm", "--setugids", *packages]), Step(["rpm", "--setperms", *packages])]
        plan.files.append("modes and owners of every file of " + ", ".join(packages))
        plan.undo += (" The rpm --setugids/--setperms changes are listed in the journal's "
                      "manifest; they restore what the packages ship.")
    return plan
