"""Fixes through the target's package manager: reinstall the packages that own damaged or
missing files, and the kernel package of a damaged kernel."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.packages import cached_deb, debian_owner
from rescuetui.fixes.base import FixPlan, Step

REINSTALL = "package-reinstall"
KERNEL = "kernel-reinstall"
UNDO = ("A package operation cannot be undone file by file; the journal's manifest lists "
        "every file it changed. Reinstall an earlier version to go back.")


def _steps(ctx: TargetContext, packages: list[str]) -> list[Step]:
    """Debian: install the exact .deb from the target's own apt cache when it is there (no
    network needed), else through apt. Other families: their package manager."""
    family = ctx.family
    assert family is not None
    if family.name == "debian":
        debs = [cached_deb(ctx, p) for p in packages]
        if all(debs):
            paths = ["/" + str(d.relative_to(ctx.root)) for d in debs if d]
            return [Step(["dpkg", "-i", *paths])]
    return [Step(argv) for argv in family.reinstall(packages)]


def plan_package_reinstall(ctx: TargetContext, finding: Finding) -> FixPlan:
    packages = list(finding.data.get("packages") or [])
    plan = FixPlan(REINSTALL, why=finding.summary,
                   risk="Medium: package scripts run in the chroot and may change more than the "
                        "missing files.", files=list(finding.data.get("files") or []), undo=UNDO)
    if not packages:
        plan.blocked = "No package owns the missing files, so there is nothing to reinstall."
    elif ctx.family is None:
        plan.blocked = "The distro family is not known, so neither is its package manager."
    else:
        plan.steps = _steps(ctx, packages)
    return plan


def plan_kernel_reinstall(ctx: TargetContext, finding: Finding) -> FixPlan:
    path = finding.data.get("path") or f"/boot/vmlinuz-{ctx.kernel}"
    plan = FixPlan(KERNEL, why=finding.summary,
                   risk="Medium: the kernel package's hooks rebuild its initramfs and "
                        "regenerate the boot loader config (whose root= is checked after).",
                   files=[path], undo=UNDO)
    family = ctx.family
    if family is None:
        plan.blocked = "The distro family is not known, so neither is its kernel package."
        return plan
    image = next((k.image for k in ctx.target.kernels if k.version == ctx.kernel and k.image), "")
    package = family.kernel_package(ctx.kernel, image.rpartition("vmlinuz-")[2] or None)
    if family.name == "debian":
        owner = debian_owner(ctx, path)
        package = owner[0] if owner else package
    plan.steps = _steps(ctx, [package])
    return plan
