"""Check: the kernel image is whole (its boot header's sizes against the file) and the module
tree is there."""

from __future__ import annotations

import struct

from rescuetui.checks.base import Finding, TargetContext

CHECK = "kernel-image"


def expected_bzimage_size(header: bytes) -> int | None:
    """The size an x86 bzImage must at least have, from its boot protocol header, or None
    when the file is not a bzImage (other architectures: no size check)."""
    if len(header) < 0x208 or header[0x202:0x206] != b"HdrS":
        return None
    setup_sects = header[0x1F1] or 4
    syssize = struct.unpack_from("<I", header, 0x1F4)[0]
    return (setup_sects + 1) * 512 + syssize * 16


def check_kernel_image(ctx: TargetContext) -> Finding:
    path = next((k.image for k in ctx.target.kernels if k.version == ctx.kernel and k.image),
                f"/boot/vmlinuz-{ctx.kernel}")
    data = {"path": path, "kernel": ctx.kernel}
    st = ctx.files.stat(path)
    header = ctx.files.read(path, 0x300)
    if st is None or header is None:
        return Finding(CHECK, False, "kernel-missing", f"{path} does not exist.", data=data)
    size = st.st_size
    expected = expected_bzimage_size(header)
    if expected is not None and size < expected:
        return Finding(CHECK, False, "kernel-damaged", f"{path} is {size} bytes but its boot "
                       f"header says at least {expected}: the image is truncated.",
                       evidence=[f"size {size}", f"header needs {expected}"], data=data)
    if not ctx.files.is_dir(f"/lib/modules/{ctx.kernel}"):
        return Finding(CHECK, False, "modules-missing", f"/lib/modules/{ctx.kernel} is missing: "
                       "the kernel has no modules to load.", data=data)
    return Finding(CHECK, True, "ok", f"{path} ({size} bytes) is whole"
                   + (" by its boot header." if expected else "."), data=data)
