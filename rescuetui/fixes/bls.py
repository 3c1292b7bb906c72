"""Fix: BLS entries. A root= that names another filesystem becomes the root's UUID, in the
entry's options or, where they say `$kernelopts`, in grubenv (kept a 1024-byte block). An
initramfs an entry names that is gone is rebuilt for that entry's kernel."""

from __future__ import annotations

import re
from dataclasses import replace

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.bootchain import grubenv_bytes
from rescuetui.fixes.base import FileEdit, FixPlan, read_for_edit, unified_diff
from rescuetui.fixes.initramfs import plan_initramfs_rebuild
from rescuetui.fixes.packages import plan_kernel_reinstall

FIX = "bls-root"


def _replace_roots(text: str, bad: list[str], good: str, after: str = r"(?<!\S)") -> str:
    """root=BAD as a parameter of its own (`after`: what may stand right before it)."""
    for value in bad:
        text = re.sub(after + r"root=" + re.escape(value) + r"(?=\s|$)", f"root={good}", text,
                      flags=re.M)
    return text


def plan_bls(ctx: TargetContext, finding: Finding) -> FixPlan:
    version = str(finding.data.get("version") or "")
    if finding.finding == "initrd-missing" and version:
        return plan_initramfs_rebuild(replace(ctx, kernel=version), Finding(
            "initramfs", False, "missing", finding.summary, data={"kernel": version}))
    if finding.finding == "kernel-missing" and version:
        return plan_kernel_reinstall(replace(ctx, kernel=version), Finding(
            "kernel-image", False, "missing", finding.summary))
    good = f"UUID={ctx.target.uuid}"
    plan = FixPlan(FIX, why=finding.summary,
                   risk="Low: only root= changes in the entries (or grubenv); each file is "
                        "backed up.", undo="rescuetui undo restores each file.")
    bad_roots: dict[str, list[str]] = finding.data.get("bad_roots") or {}
    chain = ctx.target.boot_chain
    diffs = []
    grubenv_bad: list[str] = []
    for path, bad in sorted(bad_roots.items()):
        before = read_for_edit(ctx.files, path)
        if before is None:
            continue
        text = before.decode("utf-8", "surrogateescape")
        if "$kernelopts" in text and not any(f"root={b}" in text for b in bad):
            grubenv_bad += bad
            continue
        after = _replace_roots(text, bad, good).encode("utf-8", "surrogateescape")
        if after != before:
            plan.edits.append(FileEdit(path, f"root= to {good}", content=after))
            plan.files.append(path)
            diffs.append(unified_diff(path, before, after))
    grubenv = f"{chain.grub_dir}/grubenv" if chain and chain.grub_dir else None
    before = read_for_edit(ctx.files, grubenv) if grubenv_bad and grubenv else None
    if grubenv is not None and before is not None:
        path = grubenv
        text = _replace_roots(before.decode("utf-8", "surrogateescape"), grubenv_bad, good,
                              after=r"(?:(?<=^kernelopts=)|(?<=\s))")
        block = grubenv_bytes(text.rstrip("#"))
        if block is not None and block != before:
            plan.edits.append(FileEdit(path, f"kernelopts root= to {good}", content=block))
            plan.files.append(path)
            diffs.append(unified_diff(path, before, block))
    plan.diff = "".join(diffs)
    if not plan.edits:
        plan.blocked = "No root= in the BLS entries or grubenv could be corrected safely."
    return plan
