"""Check: the packages boot depends on (the kernel, init, libc, the shell) verify against their
digests: dpkg --verify, rpm -V. Configuration files the operator edited do not count."""

from __future__ import annotations

import re

from rescuetui.checks.base import Finding, TargetContext, unchecked
from rescuetui.checks.packages import debian_owner

CHECK = "packages"
BOOT_FILES = ("/sbin/init", "/bin/sh", "/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1")
# dpkg --verify and rpm -V: 9 flag characters (5 = digest), an optional c (conffile), the path;
# or "missing" and the path.
ALTERED = re.compile(r"^(?:(?P<flags>[.?0-9A-Za-z]{8,9})|missing)\s+(?P<conf>c\s+)?(?P<path>/.*)$")


def boot_packages(ctx: TargetContext) -> list[str]:
    """The kernel's package and the owners of init, the shell and the loader (Debian reads its
    own database from the disk; other families are asked through their package manager)."""
    family = ctx.family
    assert family is not None
    image = next((k.image for k in ctx.target.kernels if k.version == ctx.kernel and k.image),
                 f"/boot/vmlinuz-{ctx.kernel}")
    packages = []
    for path in (image, *BOOT_FILES):
        real = ctx.path(path)
        if not real.exists():
            continue
        if family.name == "debian":
            owner = debian_owner(ctx, "/" + str(real.relative_to(ctx.root)))
            if owner and owner[0] not in packages:
                packages.append(owner[0])
    if family.name != "debian":
        packages.append(family.kernel_package(ctx.kernel))
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
    owners = sorted({o[0] for p in altered if (o := debian_owner(ctx, p))}) \
        if family.name == "debian" else packages
    return Finding(CHECK, False, "damaged", f"Altered or missing: {', '.join(altered[:6])}"
                   + (" ..." if len(altered) > 6 else ""), evidence=altered[:20],
                   data={"packages": owners, "files": altered})
