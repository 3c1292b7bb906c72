"""Check: every fstab entry names a device that is there, or may be absent (nofail)."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.fstab import parse_fstab
from rescuetui.core.fstabtree import resolve_fstab
from rescuetui.core.inventory import scan_inventory
from rescuetui.core.text import from_disk, printable

CHECK = "fstab"


def check_fstab(ctx: TargetContext) -> Finding:
    # Read afresh (a fix may have just changed it), resolved against the devices attached now.
    fstab = parse_fstab(from_disk(ctx.path("/etc/fstab").read_bytes()))
    resolved = resolve_fstab(fstab, scan_inventory(), ctx.target.disk)
    missing = [r for r in resolved if r.status in ("missing", "ambiguous") and r.required
               and r.entry.kind in ("filesystem", "swap")]
    problems = [p.message for p in fstab.problems]
    if not missing and not problems:
        return Finding(CHECK, True, "ok", "Every required fstab entry names a device that is "
                       "attached; entries that may be absent have nofail.")
    lines = [r.entry.line_number for r in missing]
    return Finding(
        CHECK, False, "missing-device" if missing else "syntax",
        "; ".join([f"line {r.entry.line_number} ({printable(r.entry.mountpoint)}): {r.note}"
                   for r in missing] + problems),
        evidence=[printable(r.entry.raw) for r in missing],
        data={"lines": lines},
    )
