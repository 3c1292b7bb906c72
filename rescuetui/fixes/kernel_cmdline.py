"""Fix: take the offending parameters off the kernel command line: from the boot entries
(grub.cfg's normal entries, BLS options, grubenv kernelopts) and from what regenerates them
(/etc/default/grub, /etc/kernel/cmdline). Recovery entries keep their `single`; every other
word stays as it is."""

from __future__ import annotations

import re
from collections import defaultdict

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.kernel_cmdline import ASSIGNMENT
from rescuetui.core.bootchain import grubenv_bytes
from rescuetui.core.cmdline import without
from rescuetui.core.grubmenu import grub_menu_entries
from rescuetui.core.text import printable
from rescuetui.fixes.base import FileEdit, FixPlan, read_for_edit, unified_diff

FIX = "kernel-cmdline"


def plan_kernel_cmdline(ctx: TargetContext, finding: Finding) -> FixPlan:
    offences = finding.data.get("offences", [])
    drop_by_file: dict[str, set[str]] = defaultdict(set)
    for o in offences:
        drop_by_file[o["path"]].add(o["param"])
    every = {o["param"] for o in offences}
    # A parameter found in one place is taken off every place the same entry comes from, or
    # the next regeneration (update-grub, a kernel update) brings it back.
    plan = FixPlan(FIX, why=finding.summary,
                   risk="Low: only the named parameters are removed; each file is backed up.",
                   undo="rescuetui undo restores each file.")
    diffs = []
    for path in sorted(set(drop_by_file) | _regenerators(ctx)):
        before = read_for_edit(ctx.files, path)
        if before is None:
            continue
        after = _edited(path, before, every)
        if after is None or after == before:
            continue
        plan.edits.append(FileEdit(path, f"kernel parameters removed: {', '.join(sorted(every))}",
                                   content=after))
        plan.files.append(path)
        diffs.append(unified_diff(path, before, after))
    plan.diff = "".join(diffs)
    plan.data = {"removed": sorted(every)}
    if not plan.edits:
        plan.blocked = ("The parameters " + ", ".join(printable(p) for p in sorted(every))
                        + " could not be removed safely from any file.")
    return plan


def _regenerators(ctx: TargetContext) -> set[str]:
    """The files that regenerate the entries, even where they did not carry the parameter."""
    return {p for p in ("/etc/default/grub", "/etc/kernel/cmdline") if ctx.files.is_file(p)}


def _edited(path: str, data: bytes, drop: set[str]) -> bytes | None:
    text = data.decode("utf-8", "surrogateescape")
    if path.endswith("/grubenv"):
        return _edited_grubenv(text, drop)
    if path == "/etc/default/grub":
        out = ASSIGNMENT.sub(lambda m: _assignment(m, drop), text)
    elif path.endswith(".conf") and "/loader/entries/" in path:
        out = re.sub(r"^(\s*options\s+)(.*)$", lambda m: m.group(1) + without(m.group(2), drop),
                     text, flags=re.M)
    elif path == "/etc/kernel/cmdline":
        out = without(text.strip(), drop) + "\n"
    else:  # a grub.cfg: the linux line of every entry but the recovery ones
        lines = text.split("\n")
        for entry in grub_menu_entries(text):
            if entry.rank == 2:
                continue
            line = lines[entry.line]
            head = re.match(r"^(\s*\S+\s+\S+)(\s+)(.*)$", line)
            if head:
                lines[entry.line] = head.group(1) + " " + without(head.group(3), drop)
        out = "\n".join(lines)
    return out.encode("utf-8", "surrogateescape")


def _assignment(match: re.Match[str], drop: set[str]) -> str:
    value = next((g for g in match.groups()[3:] if g is not None), "")
    quote = '"' if match.group(4) is not None or match.group(6) is not None else "'"
    return f"{match.group(1)}{quote}{without(value, drop)}{quote}"


def _edited_grubenv(text: str, drop: set[str]) -> bytes | None:
    """grubenv stays a 1024-byte block: the edited lines, then # padding."""
    lines = [line for line in text.split("\n") if line and not set(line) <= {"#"}]
    header = "# GRUB Environment Block"
    body = [line for line in lines if line != header]
    edited = [f"kernelopts={without(line.partition('=')[2], drop)}"
              if line.startswith("kernelopts=") else line for line in body]
    return grubenv_bytes(header + "\n" + "".join(f"{line}\n" for line in edited))
