"""Fix: rebuild the initramfs of the failing kernel with the builder the target has installed."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.boot_space import MIN_FREE, free_bytes
from rescuetui.checks.initramfs import MODULES_DEP, config_files
from rescuetui.core.initramfs_builder import DRACUT, INITRAMFS_TOOLS, InitramfsBuilder
from rescuetui.fixes.base import FileEdit, FixPlan, Step, read_for_edit, unified_diff

FIX = "initramfs-rebuild"


def plan_initramfs_rebuild(ctx: TargetContext, finding: Finding) -> FixPlan:
    path = finding.data.get("path") or f"/boot/initrd.img-{ctx.kernel}"
    exists = ctx.files.is_file(path)
    plan = FixPlan(
        FIX,
        why=finding.summary,
        risk="Low: the old image (if any) is replaced only once the new one is complete; "
             "package hooks may run.",
        files=[path],
        undo="The previous image is not kept by the builder; rescuetui lists the change in "
             "the journal's manifest. Rebuild again, or reinstall the kernel package.",
    )
    builder = ctx.initramfs_builder
    if builder is None:
        plan.blocked = ("The target has no initramfs builder installed that can run "
                        "(initramfs-tools, dracut or mkinitcpio). Install the system's own "
                        "builder package in the chroot (rescuetui shell), then run again.")
        return plan
    free = free_bytes(ctx, "/boot")
    if free < MIN_FREE:
        # Never delete the operator's files to make room; say what to do instead.
        plan.blocked = (f"/boot has {free >> 20} MiB free, less than the {MIN_FREE >> 20} MiB an "
                        "initramfs may need. Remove an old kernel with the package manager "
                        "first; rescuetui does not delete files to make room.")
        return plan
    if finding.finding == "lacks-lvm" and not any(
            ctx.files.exists(tool) for tool in ("/usr/sbin/lvm", "/sbin/lvm")):
        # The builder copies the system's own lvm into the image: without it no rebuild helps.
        plan.blocked = ("Root is on a logical volume, but the system has no lvm tool (lvm2 is "
                        "not installed), so no rebuilt initramfs could activate it. Install "
                        "lvm2 in the chroot (rescuetui shell --rw), then run again.")
        return plan
    modules = finding.data.get("modules") or []
    if finding.finding == "lacks-driver" and modules:
        _add_modules(ctx, plan, builder, modules)
    if finding.data.get("host_only"):
        _not_host_only(ctx, plan, builder)
    plan.steps = [Step(argv) for argv in builder.rebuild(ctx.kernel, path, exists)]
    plan.why += f" Built with {builder.name}, the builder the target has installed."
    return plan


# Where each builder takes modules it must always include.
FORCED_MODULES = {
    "initramfs-tools": ("/etc/initramfs-tools/modules", "{name}\n"),
    "dracut": ("/etc/dracut.conf.d/90-rescuetui.conf", 'add_drivers+=" {name} "\n'),
    "mkinitcpio": ("/etc/mkinitcpio.conf.d/90-rescuetui.conf", "MODULES+=({name})\n"),
}


def _add_modules(ctx: TargetContext, plan: FixPlan, builder: InitramfsBuilder,
                 modules: list[str]) -> None:
    """The missing drivers go into the builder's own list, so every later rebuild (a kernel
    update) keeps them too."""
    path, template = FORCED_MODULES[builder.name]
    before = read_for_edit(ctx.files, path) or b""
    text = before.decode("utf-8", "surrogateescape")
    lines = set(text.splitlines())
    added = "".join(template.format(name=m) for m in modules
                    if template.format(name=m).rstrip("\n") not in lines)
    if not added:
        return
    if text and not text.endswith("\n"):
        text += "\n"
    after = (text + "# added by rescuetui: the disk root is on needs these at boot\n"
             + added).encode("utf-8", "surrogateescape")
    plan.edits.append(FileEdit(path, "drivers the initramfs must carry", content=after))
    plan.files.insert(0, path)
    plan.diff += unified_diff(path, before, after)
    plan.undo += f" rescuetui undo restores {path}; rebuild again afterwards."


DRACUT_GENERIC = "/etc/dracut.conf.d/90-rescuetui-generic.conf"


def _not_host_only(ctx: TargetContext, plan: FixPlan, builder: InitramfsBuilder) -> None:
    """MODULES=dep becomes initramfs-tools' default MODULES=most; dracut gets hostonly="no"
    (its generic image): either way the image no longer depends on where it is built (the
    rebuild here is generic whatever the setting; this is for the system's own later ones)."""
    if builder is INITRAMFS_TOOLS:
        for name in config_files(ctx, builder.config):
            before = read_for_edit(ctx.files, name)
            if before is None:
                continue
            text = before.decode("utf-8", "surrogateescape")
            if not MODULES_DEP.search(text):
                continue
            after = MODULES_DEP.sub("# MODULES=dep  (rescuetui: dep takes the build host's "
                                    "drivers only)\nMODULES=most", text).encode(
                                        "utf-8", "surrogateescape")
            plan.edits.append(FileEdit(name, "MODULES=most instead of dep", content=after))
            plan.files.insert(0, name)
            plan.diff += unified_diff(name, before, after)
    if builder is DRACUT:
        after = (b"# rescuetui: a generic image, not one with the build host's drivers only\n"
                 b'hostonly="no"\n')
        plan.edits.append(FileEdit(DRACUT_GENERIC, "dracut builds a generic image", content=after,
                                   mode=0o644))
        plan.files.insert(0, DRACUT_GENERIC)
        plan.diff += unified_diff(DRACUT_GENERIC, b"", after)
    plan.undo += " rescuetui undo restores the builder's settings; rebuild again afterwards."
