"""Fixes through the target's package manager: reinstall the packages that own damaged or
missing files, and the kernel package of a damaged kernel."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.package_modes import ArchiveUnreadable, archive_members
from rescuetui.checks.packages import cached_deb, cached_deb_path, kernel_package
from rescuetui.fixes.base import FileEdit, FixPlan, Step

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
        debs = [cached_deb_path(ctx, p) for p in packages]
        if all(debs):
            return [Step(["dpkg", "-i", *[d for d in debs if d]])]
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
    elif finding.data.get("host_side"):
        _restore_from_host(ctx, plan, packages[0], list(finding.data.get("files") or []))
    else:
        plan.steps = _steps(ctx, packages)
    return plan


def _restore_from_host(ctx: TargetContext, plan: FixPlan, package: str, files: list[str]) -> None:
    """Nothing runs in the chroot (the loader or libc is gone), so the package manager cannot
    either: the missing files are written from the package's archive by rescuetui itself, from
    the host side, each one journaled; then the package is installed again properly."""
    deb = cached_deb(ctx, package) if ctx.family and ctx.family.name == "debian" else None
    if deb is None:
        plan.blocked = (f"Nothing runs in the target, and there is no {package} archive in its "
                        "package cache to restore the files from. Copy the package file (same "
                        "version, from a mirror) into /var/cache/apt/archives of the target, or "
                        "extract it there by hand (dpkg-deb -x / rpm2cpio), then run again.")
        return
    wanted = set(files)
    try:
        members = archive_members(ctx.files, deb)
    except ArchiveUnreadable as exc:
        plan.blocked = (f"{exc} Nothing runs in the target, so the files can only come from a "
                        f"good copy of that archive: put one (same version, from a mirror) in "
                        "/var/cache/apt/archives of the target, then run again.")
        return
    for entry in members:
        if entry.path not in wanted:
            continue
        how = f"from {deb.rsplit('/', 1)[-1]}, on the host side"
        if entry.link_target is not None:
            plan.edits.append(FileEdit(entry.path, f"restore link {how}",
                                       link_target=entry.link_target))
        elif entry.content is not None:
            plan.edits.append(FileEdit(entry.path, f"restore file {how}", content=entry.content,
                                       mode=entry.mode))
    plan.risk = ("Low for the files written (each is new: undo removes it); then the package is "
                 "installed again inside the chroot, whose scripts may change more.")
    plan.undo = ("rescuetui undo removes the restored files. " + UNDO)
    plan.steps = [Step(["dpkg", "-i", deb])]



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
    image = next((k.image for k in ctx.target.kernels if k.version == ctx.kernel and k.image),
                 path)
    # The exact installed package (its database's owner of the image or module tree): a
    # reinstall of "the kernel" would take the newest, or fail with several installed.
    plan.steps = _steps(ctx, [kernel_package(ctx, ctx.kernel, image)])
    return plan
