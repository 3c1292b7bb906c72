"""Check: every fstab entry names a device that is there, or may be absent (nofail)."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.fstab import parse_fstab
from rescuetui.core.fstabtree import resolve_fstab
from rescuetui.core.inventory import scan_inventory
from rescuetui.core.target import MAX_FSTAB_BYTES
from rescuetui.core.text import from_disk, printable

CHECK = "fstab"


def check_fstab(ctx: TargetContext) -> Finding:
    # Read afresh (a fix may have just changed it), resolved against the devices attached now.
    found = ctx.files.read("/etc/fstab", MAX_FSTAB_BYTES)
    fstab = parse_fstab(from_disk(found) if found is not None else "")
    inventory = scan_inventory()
    resolved = resolve_fstab(fstab, inventory, ctx.target.disk)
    missing = [r for r in resolved if r.status in ("missing", "ambiguous") and r.required
               and r.entry.kind in ("filesystem", "swap")]
    problems = [p.message for p in fstab.problems]
    # Only another disk has what the entry names: on its own machine that disk may well be
    # attached, so the entry is neither right nor wrong from here. Said, not "fixed".
    elsewhere = [f"line {r.entry.line_number} ({printable(r.entry.mountpoint)}) was not "
                 f"checked: {r.note}" for r in resolved if r.status == "elsewhere"]
    if not missing and not problems:
        return Finding(CHECK, True, "ok", "; ".join(
            ["Every required fstab entry names a device that is attached; entries that may be "
             "absent have nofail"] + elsewhere) + ".",
            data={"not_checked": [r.entry.line_number for r in resolved
                                  if r.status == "elsewhere"]})
    lines = [r.entry.line_number for r in missing]
    # A filesystem on the system's disk that no entry names, of the entry's type, and the only
    # one: the entry most likely meant it (a re-created filesystem has a new UUID).
    claimed = {r.device for r in resolved if r.device}
    spare = [d for d in inventory.on_disk(ctx.target.disk)
             if d.identity.usage == "filesystem" and d.path not in claimed and d.identity.uuid]
    candidates = {}
    for r in missing:
        fitting = [d for d in spare if d.fstype == r.entry.fstype]
        if len(fitting) == 1 and r.entry.device.tag == "UUID":
            candidates[str(r.entry.line_number)] = fitting[0].identity.uuid
    return Finding(
        CHECK, False, "missing-device" if missing else "syntax",
        "; ".join([f"line {r.entry.line_number} ({printable(r.entry.mountpoint)}): {r.note}"
                   for r in missing] + problems),
        evidence=[printable(r.entry.raw) for r in missing],
        data={"lines": lines, "mountpoints": {str(r.entry.line_number): r.entry.mountpoint
                                              for r in missing},
              "candidates": candidates},
    )
