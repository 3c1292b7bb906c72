"""Fix: give fstab entries of absent devices `nofail` (lines are edited, never deleted)."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.fixes.base import FileEdit, FixPlan, unified_diff

FIX = "fstab-nofail"


def add_nofail(text: bytes, lines: list[int]) -> bytes:
    out = []
    for number, line in enumerate(text.split(b"\n"), start=1):
        fields = line.split()
        if number in lines and len(fields) >= 4 and b"nofail" not in fields[3].split(b","):
            options = fields[3] + b",nofail" if fields[3] != b"defaults" else b"defaults,nofail"
            start = line.index(fields[3], line.index(fields[2]) + len(fields[2]))
            line = line[:start] + options + line[start + len(fields[3]):]
        out.append(line)
    return b"\n".join(out)


def plan_fstab_nofail(ctx: TargetContext, finding: Finding) -> FixPlan:
    before = ctx.path("/etc/fstab").read_bytes()
    after = add_nofail(before, finding.data.get("lines", []))
    plan = FixPlan(FIX, why=finding.summary,
                   risk="Low: the system boots without the absent filesystem instead of "
                        "stopping; programs that expect it there see an empty directory.",
                   files=["/etc/fstab"], diff=unified_diff("/etc/fstab", before, after),
                   undo="rescuetui undo restores the file.")
    if after == before:
        plan.blocked = "The entries already have nofail or could not be edited safely."
    else:
        plan.edits.append(FileEdit("/etc/fstab", "add nofail for absent devices", content=after))
    return plan
