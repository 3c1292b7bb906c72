"""Check: the packages boot depends on (the kernel, init, libc, the shell) verify against their
digests: dpkg --verify, rpm -V. Configuration files the operator edited do not count."""

from __future__ import annotations

import os
import re

from rescuetui.checks.base import Finding, TargetContext, unchecked
from rescuetui.checks.packages import kernel_package, owners, really_missing

CHECK = "packages"
BOOT_FILES = ("/sbin/init", "/bin/sh", "/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1")
# dpkg --verify and rpm -V: 9 flag characters (5 = digest), an optional c (conffile), the path;
# or "missing" and the path.
ALTERED = re.compile(r"^(?:(?P<flags>[.?0-9A-Za-z]{8,9})|missing)\s+(?P<conf>c\s+)?(?P<path>/.*)$")


def boot_packages(ctx: TargetContext) -> list[str]:
    """The kernel's package and the owners of init, the shell and the loader, read from the
    package database on the disk. A link whose file is gone counts by the file's owner (the
    package whose verification reports it missing), not by the link's."""
    image = next((k.image for k in ctx.target.kernels if k.version == ctx.kernel and k.image),
                 f"/boot/vmlinuz-{ctx.kernel}")
    packages = [kernel_package(ctx, ctx.kernel, image)]
    wanted = [really_missing(ctx, p) for p in BOOT_FILES
              if os.path.lexists(ctx.path(p, follow_last=False))]
    for owner in owners(ctx, wanted).values():
        if owner.package not in packages:
            packages.append(owner.package)
    return packages


def check_package_verify(ctx: TargetContext) -> Finding:
    family = ctx.family
    if family is None or not family.verify_command:
        return Finding(CHECK, True, "ok", "No package verification for this distro family.")
    packages = boot_packages(ctx)
    if not packages:
        return Finding(CHECK, True, "ok", "No package database entries for the boot files.")
    result = ctx.chroot(*family.verify(packages))
    if result.returncode in (126, 127) and not ctx.chroot_works():
        return unchecked(CHECK, "nothing runs in the target's chroot to verify packages.")
    altered = []
    for line in result.tail:
        m = ALTERED.match(line.strip())
        if m and not m.group("conf") and (m.group("flags") is None or "5" in m.group("flags")):
            altered.append(m.group("path"))
    if not altered:
        return Finding(CHECK, True, "ok", f"{', '.join(packages)} verify against their digests.")
    damaged = sorted({o.package for o in owners(ctx, altered).values()}) or packages
    return Finding(CHECK, False, "damaged", f"Altered or missing: {', '.join(altered[:6])}"
                   + (" ..." if len(altered) > 6 else ""), evidence=altered[:20],
                   data={"packages": damaged, "files": altered})
