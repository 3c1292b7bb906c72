"""Fix: make room in /boot by removing old kernels through the package manager, never by
deleting files: the kernel the system boots by default, the kernel being repaired and the
newest two stay; every other installed kernel's package is removed (its hooks delete its
image, initramfs and modules, and regenerate the boot menu)."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.default_kernel import default_kernel
from rescuetui.checks.packages import kernel_package
from rescuetui.core.text import printable
from rescuetui.fixes.base import FixPlan, Step

FIX = "remove-old-kernels"
KEEP_NEWEST = 2
# The family's package tool (the first word of its reinstall command) -> how it removes.
REMOVE = {
    "apt-get": ["apt-get", "purge", "-y"],
    "dnf": ["dnf", "remove", "-y"],
    "yum": ["yum", "remove", "-y"],
    "tdnf": ["tdnf", "remove", "-y"],
    "zypper": ["zypper", "--non-interactive", "remove"],
}


def kernels_to_keep(ctx: TargetContext) -> dict[str, str]:
    """version -> why it stays."""
    keep: dict[str, str] = {}
    default, _ = default_kernel(ctx)
    if default:
        keep[default] = "GRUB boots it by default"
    if ctx.kernel:
        keep.setdefault(ctx.kernel, "the kernel being repaired")
    for kernel in ctx.target.kernels[:KEEP_NEWEST]:  # newest first
        keep.setdefault(kernel.version, "among the newest two")
    return keep


def plan_remove_old_kernels(ctx: TargetContext, finding: Finding) -> FixPlan:
    plan = FixPlan(FIX, why=finding.summary + " Old kernels are removed through the package "
                   "manager, which deletes their images, initramfs and modules.",
                   risk="Medium: the kernels removed can no longer be booted; the default one, "
                        "the one being repaired and the newest two stay. The packages' hooks "
                        "regenerate the GRUB config in the chroot, which can name the rescue "
                        "host's device as root=: the bootloader check runs again afterwards.",
                   undo="A removed package cannot be restored file by file: reinstall it "
                        "(apt-get install linux-image-VERSION, dnf install kernel-core-VERSION) "
                        "from the network or the package cache.")
    family = ctx.family
    tool = family.reinstall_command[0] if family else ""
    if family is None or tool not in REMOVE:
        plan.blocked = ("This family keeps each kernel as one package of its own kind (or is "
                        "unknown): remove old kernels with its package manager by hand "
                        "(`rescuetui shell --rw`).")
        return plan
    keep = kernels_to_keep(ctx)
    old = [k for k in ctx.target.kernels if k.version not in keep]
    plan.data = {"keep": keep, "remove": [k.version for k in old]}
    if not old:
        kept = ", ".join(f"{printable(v)} ({why})" for v, why in keep.items())
        plan.blocked = (f"No kernel can go: every installed one is kept ({kept}). Make room on "
                        "/boot by hand: look for files no package owns (`rescuetui shell`).")
        return plan
    packages = [kernel_package(ctx, k.version, k.image) for k in old]
    plan.steps.append(Step([*REMOVE[tool], *packages]))
    for k in old:
        plan.files += [p for p in (k.image, k.initramfs, f"/lib/modules/{k.version}") if p]
    plan.why += (" Removed: " + ", ".join(printable(p) for p in packages) + "; kept: "
                 + ", ".join(f"{printable(v)} ({why})" for v, why in keep.items()) + ".")
    return plan
