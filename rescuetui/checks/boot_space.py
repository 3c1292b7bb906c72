"""Check: free space on /boot (and /), so a rebuilt initramfs fits."""

from __future__ import annotations

import os

from rescuetui.checks.base import Finding, TargetContext

CHECK = "boot-space"
MIN_FREE = 64 << 20  # more than any initramfs a distribution builds, with room to spare


def free_bytes(ctx: TargetContext, path: str) -> int:
    with ctx.files.fd(path, os.O_PATH) as fd:  # fstatfs takes an O_PATH descriptor
        st = os.fstatvfs(fd)
    return st.f_bavail * st.f_frsize


def check_boot_space(ctx: TargetContext) -> Finding:
    free = {p: free_bytes(ctx, p) for p in ("/boot", "/")}
    low = [p for p, n in free.items() if n < MIN_FREE]
    summary = ", ".join(f"{p} has {n >> 20} MiB free" for p, n in free.items())
    if low:
        return Finding(CHECK, False, "full", summary + f"; an initramfs needs up to "
                       f"{MIN_FREE >> 20} MiB. Remove old kernels with the package manager.",
                       data={"free": free})
    return Finding(CHECK, True, "ok", summary + ".", data={"free": free})
