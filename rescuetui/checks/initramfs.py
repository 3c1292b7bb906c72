"""Check: the initramfs of the kernel to repair exists, lists completely, carries root's driver."""

from __future__ import annotations

from pathlib import Path

from rescuetui.checks.base import Finding, TargetContext, unchecked
from rescuetui.core.diskdrivers import disk_driver_modules

CHECK = "initramfs"
LISTERS = ("/usr/bin/lsinitramfs", "/usr/bin/lsinitrd", "/usr/bin/lsinitcpio")


def initramfs_path(ctx: TargetContext) -> str:
    """Where the boot loader looks for this kernel's initramfs (per family; Arch by package)."""
    known = next((k.initramfs for k in ctx.target.kernels if k.version == ctx.kernel), None)
    if known:
        return known
    family = ctx.family
    return "/boot/" + (family.initramfs_name(ctx.kernel) if family else f"initrd.img-{ctx.kernel}")


def check_initramfs(ctx: TargetContext) -> Finding:
    path = initramfs_path(ctx)
    data: dict[str, object] = {"path": path, "kernel": ctx.kernel}
    host = ctx.path(path)
    if not host.is_file():
        return Finding(CHECK, False, "missing", f"{path} does not exist: kernel {ctx.kernel} "
                       "boots without an initramfs and cannot mount root.", data=data)
    size = host.stat().st_size
    lister = next((p for p in LISTERS if ctx.path(p).exists()), None)
    if lister is None:
        return Finding(CHECK, True, "ok", f"{path} exists ({size} bytes); the target has no "
                       "lsinitramfs or lsinitrd to look inside it.", data=data)
    listing = ctx.chroot(lister, path)
    if not listing.ok and not ctx.chroot_works():
        return unchecked(CHECK, "nothing runs in the target's chroot to list the initramfs.")
    if not listing.ok or not listing.tail:
        return Finding(CHECK, False, "truncated", f"{path} ({size} bytes) cannot be listed "
                       "completely: it is truncated or corrupt.", evidence=listing.tail[-5:],
                       data=data)
    needed = [(m, "the root filesystem") for m in _loadable(ctx, [ctx.target.fstype or ""])]
    needed += [(m, f"the disk root is on ({ctx.target.disk})")
               for m in _loadable(ctx, disk_driver_modules(ctx.target.disk))]
    missing = _missing_modules(ctx, lister, path, [m for m, _ in needed])
    if missing:
        why = "; ".join(f"{m} (for {what})" for m, what in needed if m in missing)
        data["modules"] = missing
        return Finding(CHECK, False, "lacks-driver", f"{path} lacks {', '.join(missing)}, so it "
                       f"cannot reach the root filesystem: {why}.", data=data)
    return Finding(CHECK, True, "ok", f"{path} ({size} bytes) lists completely"
                   + (f" and has {', '.join(m for m, _ in needed)}." if needed else "."),
                   data=data)


def _canonical(name: str) -> str:
    return name.replace("-", "_")


def _loadable(ctx: TargetContext, names: list[str]) -> list[str]:
    """Those of `names` that the kernel has as loadable modules (built-in ones need nothing,
    and a name the kernel does not know at all cannot be judged)."""
    order = ctx.path(f"/lib/modules/{ctx.kernel}/modules.order")
    if not order.is_file():
        return []
    shipped = {_canonical(Path(line).name.split(".ko")[0])
               for line in order.read_text(errors="replace").splitlines()}
    return [n for n in dict.fromkeys(_canonical(n) for n in names if n) if n in shipped]


def _missing_modules(ctx: TargetContext, lister: str, path: str, names: list[str]) -> list[str]:
    if not names:
        return []
    # One listing, filtered in the chroot: module file names use - and _ alike.
    pattern = "/(" + "|".join(n.replace("_", "[-_]") for n in names) + r")\.ko(\.[a-z]+)?$"
    found = ctx.chroot("sh", "-c", '"$0" "$1" | grep -o -E "$2"', lister, path, pattern)
    present = {_canonical(Path(line).name.split(".ko")[0]) for line in found.tail}
    return [n for n in names if n not in present]
