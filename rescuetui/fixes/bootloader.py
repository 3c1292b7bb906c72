"""Fix: GRUB's config. Missing, empty, or naming files that are gone: regenerate it with the
family's own command, then correct root= (without udev, the generator names the rescue host's
device). Wrong root= or another disk: correct those words only, nothing else."""

from __future__ import annotations

import re

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.bootloader import LINUX_LINE, ROOT_ARG, main_config, root_is_named
from rescuetui.core.errors import RescueError
from rescuetui.fixes.base import FileEdit, FixPlan, Step, not_editable, read_for_edit, unified_diff

FIX = "bootloader-root"
REGENERATE = "bootloader-regenerate"
REGENERATED_FINDINGS = ("config-missing", "no-entries", "kernel-missing", "initramfs-missing")


def corrected_config(ctx: TargetContext, text: str, bad_roots: list[str] | None = None) -> str:
    """`text` with every root= that does not name the root filesystem set to its UUID, and
    another disk (hd1 and later) set to the first; healthy root= forms are left as they are."""
    good = f"UUID={ctx.target.uuid}"
    names = ctx.target.root_specs or [good]
    if bad_roots is None:
        bad_roots = sorted({r for _, args in LINUX_LINE.findall(text)
                            for r in ROOT_ARG.findall(args) if not root_is_named(r, names)})
    for bad in bad_roots:
        text = re.sub(r"(?<!\S)root=" + re.escape(bad) + r"(?=\s|$)", f"root={good}", text,
                      flags=re.M)
    return re.sub(r"set root='?hd[1-9]+,", "set root='hd0,", text)


def plan_bootloader(ctx: TargetContext, finding: Finding) -> FixPlan:
    config = finding.data.get("config") or main_config(ctx) or "/boot/grub/grub.cfg"
    if finding.finding in REGENERATED_FINDINGS:
        return _plan_regenerate(ctx, finding, config)
    plan = FixPlan(FIX, why=finding.summary,
                   risk="Low: only the boot loader config changes; its old text is backed up.",
                   files=[config], undo="rescuetui undo restores the file.")
    before = read_for_edit(ctx.files, config)
    if before is None:
        plan.blocked = not_editable(config)
        return plan
    text = before.decode("utf-8", "surrogateescape")
    after = corrected_config(ctx, text, finding.data.get("bad_roots", [])).encode(
        "utf-8", "surrogateescape")
    plan.diff = unified_diff(config, before, after)
    if after == before:
        plan.blocked = "Nothing in the config could be corrected safely."
    else:
        plan.edits.append(FileEdit(config, f"root= to UUID={ctx.target.uuid}", content=after))
    return plan


def _plan_regenerate(ctx: TargetContext, finding: Finding, config: str) -> FixPlan:
    plan = FixPlan(REGENERATE, why=finding.summary,
                   risk="Low: the config is generated from what /boot and /etc/default/grub hold; "
                        "an existing one is replaced (the generator's own temporary file, then a "
                        "rename).",
                   files=[config],
                   undo="rescuetui undo restores root= as it was; the generated file itself "
                        "is listed in the journal's manifest (an old one has no copy: run the "
                        "generator again to get one).")
    family = ctx.family
    if family is None:
        plan.blocked = "The distro family is not known, so its grub-mkconfig is not either."
        return plan
    commands = family.regenerate_grub()
    if commands and commands[0][-1] != config:
        commands = [commands[0][:-1] + [config]]
    plan.steps = [Step(argv) for argv in commands]
    plan.after_steps_note = (f"root= in the new {config} set to UUID={ctx.target.uuid} wherever "
                             "the generator named a device that is not the root filesystem "
                             "(it sees the rescue host's, without udev)")

    def fix_roots() -> list[FileEdit]:
        before = read_for_edit(ctx.files, config)
        if before is None:
            raise RescueError(f"The generator ran but {config} does not exist.")
        after = corrected_config(ctx, before.decode("utf-8", "surrogateescape")).encode(
            "utf-8", "surrogateescape")
        if after == before:
            return []
        return [FileEdit(config, f"root= to UUID={ctx.target.uuid}", content=after)]

    plan.after_steps = fix_roots
    return plan
