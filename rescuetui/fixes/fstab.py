"""Fix: an fstab entry whose device is gone. Corrected to the one filesystem it must have meant,
or given `nofail` when it is a data disk; a system filesystem with no candidate is refused.
Lines are edited, never deleted."""

from __future__ import annotations

import re

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.session import ESP_MOUNTPOINTS
from rescuetui.core.session import SYSTEM_MOUNTS as session_system_mounts
from rescuetui.fixes.base import FileEdit, FixPlan, read_for_edit, unified_diff

FIX = "fstab-nofail"
# Without these the system is not whole: nofail would hide the fault, not fix it. The ESP is
# not among them: once the firmware has loaded GRUB from it, the system boots without it.
SYSTEM_MOUNTS = (frozenset({"/"}) | session_system_mounts) - ESP_MOUNTPOINTS


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


def correct_uuids(text: bytes, corrections: dict[int, str]) -> bytes:
    out = []
    for number, line in enumerate(text.split(b"\n"), start=1):
        if number in corrections:
            line = re.sub(rb"^(\s*UUID=)[\"']?[^\s\"']+[\"']?", rb"\g<1>" +
                          corrections[number].encode(), line, count=1)
        out.append(line)
    return b"\n".join(out)


def plan_fstab_nofail(ctx: TargetContext, finding: Finding) -> FixPlan:
    before = read_for_edit(ctx.files, "/etc/fstab") or b""
    lines = finding.data.get("lines", [])
    mountpoints = finding.data.get("mountpoints", {})
    candidates = {int(k): v for k, v in finding.data.get("candidates", {}).items()}
    corrected = {n: u for n, u in candidates.items() if n in lines}
    system = [n for n in lines if n not in corrected and mountpoints.get(str(n)) in SYSTEM_MOUNTS]
    data = [n for n in lines if n not in corrected and n not in system]
    after = add_nofail(correct_uuids(before, corrected), data)
    fix = "fstab-correct-uuid" if corrected and not data else FIX
    risk = ("Low: the entry then names the only filesystem on the disk that fits it. "
            if corrected else "") + ("Low: the system boots without the absent data filesystem instead of "
                        "stopping in emergency mode." if data else "")
    plan = FixPlan(fix, why=finding.summary, risk=risk.strip() or "None: nothing changes.",
                   files=["/etc/fstab"], diff=unified_diff("/etc/fstab", before, after),
                   undo="rescuetui undo restores the file.")
    if system:
        where = ", ".join(str(mountpoints.get(str(n))) for n in system)
        plan.blocked = (f"{where} is part of the system itself and no filesystem on its disk "
                        "fits the entry: attach the disk that holds it, or restore it; nofail "
                        "would only hide the fault.")
    elif after == before:
        plan.blocked = "The entries already have nofail or could not be edited safely."
    else:
        plan.edits.append(FileEdit("/etc/fstab", "fstab: " + (
            "correct UUID" if corrected else "") + (" and " if corrected and data else "")
            + ("nofail for absent data disks" if data else ""), content=after))
    return plan
