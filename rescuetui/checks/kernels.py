"""Check: which kernels are installed. Not a problem in itself: it tells the decision tree
whether booting the previous kernel is a way out at all (it is not with only one)."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.text import printable

CHECK = "kernels"


def check_kernels(ctx: TargetContext) -> Finding:
    versions = [k.version for k in ctx.target.kernels]  # newest first
    shown = ", ".join(printable(v) for v in versions) or "none"
    data = {"kernels": versions}
    if len(versions) > 1:
        return Finding(CHECK, True, "several", f"{len(versions)} kernels are installed ({shown}): "
                       "an older one is a way out.", data=data)
    return Finding(CHECK, True, "one", f"One kernel is installed ({shown}): there is no previous "
                   "kernel to boot.", data=data)
