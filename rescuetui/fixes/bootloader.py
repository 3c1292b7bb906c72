"""Fix: correct root= in the GRUB config to the root filesystem's UUID, and a wrong disk."""

from __future__ import annotations

import re

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.fixes.base import FileEdit, FixPlan, Step, unified_diff

FIX = "bootloader-root"


def plan_bootloader(ctx: TargetContext, finding: Finding) -> FixPlan:
    config = finding.data.get("config") or ctx.target.bootloader_config or "/boot/grub/grub.cfg"
    plan = FixPlan(FIX, why=finding.summary,
                   risk="Low: only the boot loader config changes; its old text is backed up.",
                   files=[config], undo="rescuetui undo restores the file.")
    family = ctx.family
    if finding.finding in ("kernel-missing", "initramfs-missing") and family:
        # Entries name files that are gone: regenerate from what is in /boot. Without udev the
        # generator names the rescue host's device for root=, so the check runs again after.
        plan.steps = [Step(argv) for argv in family.regenerate_grub()]
        return plan
    before = ctx.path(config).read_bytes()
    text = before.decode("utf-8", "surrogateescape")
    good = f"UUID={ctx.target.uuid}"
    for bad in finding.data.get("bad_roots", []):
        text = re.sub(r"\broot=" + re.escape(bad) + r"(?=\s)", f"root={good}", text)
    text = re.sub(r"set root='?hd[1-9]+,", "set root='hd0,", text)
    after = text.encode("utf-8", "surrogateescape")
    plan.diff = unified_diff(config, before, after)
    if after == before:
        plan.blocked = "Nothing in the config could be corrected safely."
    else:
        plan.edits.append(FileEdit(config, f"root= to {good}", content=after))
    return plan
