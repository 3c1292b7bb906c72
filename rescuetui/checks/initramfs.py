"""Check: the initramfs of the kernel to repair exists, lists completely, carries root's driver."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext, unchecked

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
    data = {"path": path, "kernel": ctx.kernel}
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
    fstype = ctx.target.fstype or ""
    if fstype and not _builtin(ctx, fstype):
        count = ctx.chroot("sh", "-c", '"$0" "$1" | grep -c -E "/$2\\.ko(\\.[a-z]+)?$"',
                           lister, path, fstype)
        if count.tail[-1:] == ["0"]:
            return Finding(CHECK, False, "lacks-driver", f"{path} has no {fstype} module, so it "
                           "cannot mount the root filesystem.", data=data)
    return Finding(CHECK, True, "ok", f"{path} ({size} bytes) lists completely.", data=data)


def _builtin(ctx: TargetContext, fstype: str) -> bool:
    builtin = ctx.path(f"/lib/modules/{ctx.kernel}/modules.builtin")
    return builtin.is_file() and f"/{fstype}.ko" in builtin.read_text()
