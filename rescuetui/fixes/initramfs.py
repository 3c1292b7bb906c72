"""Fix: rebuild the initramfs of the failing kernel with the family's own builder."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.boot_space import MIN_FREE, free_bytes
from rescuetui.fixes.base import FixPlan, Step

FIX = "initramfs-rebuild"


def plan_initramfs_rebuild(ctx: TargetContext, finding: Finding) -> FixPlan:
    path = finding.data.get("path") or f"/boot/initrd.img-{ctx.kernel}"
    exists = ctx.path(path).is_file()
    plan = FixPlan(
        FIX,
        why=finding.summary,
        risk="Low: the old image (if any) is replaced only once the new one is complete; "
             "package hooks may run.",
        files=[path],
        undo="The previous image is not kept by the builder; rescuetui lists the change in "
             "the journal's manifest. Rebuild again, or reinstall the kernel package.",
    )
    family = ctx.family
    if family is None:
        plan.blocked = (f"The distro family of {ctx.target.os_release.get('ID', '?')} is not "
                        "known, so its initramfs builder is not either.")
        return plan
    free = free_bytes(ctx, "/boot")
    if free < MIN_FREE:
        # Never delete the operator's files to make room; say what to do instead.
        plan.blocked = (f"/boot has {free >> 20} MiB free, less than the {MIN_FREE >> 20} MiB an "
                        "initramfs may need. Remove an old kernel with the package manager "
                        "first; rescuetui does not delete files to make room.")
        return plan
    plan.steps = [Step(argv) for argv in family.initramfs_rebuild(ctx.kernel, path, exists)]
    return plan
