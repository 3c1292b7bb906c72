"""Check: the packages boot depends on (the kernel, init, libc, the shell) verify against their
digests, as dpkg --verify and rpm -V would say, compared on the host (checks/package_digests.py).
Configuration files the operator edited do not count."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext, unchecked
from rescuetui.checks.libraries import link_end
from rescuetui.checks.package_digests import (
    rpm_records,
    verify_debian,
    verify_pacman,
    verify_rpm_records,
)
from rescuetui.checks.packages import kernel_package, owners

CHECK = "packages"
BOOT_FILES = ("/sbin/init", "/bin/sh", "/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1")


def boot_packages(ctx: TargetContext) -> list[str]:
    """The kernel's package and the owners of init, the shell and the loader, read from the
    package database on the disk. A link whose file is gone counts by the file's owner (the
    package whose verification reports it missing), not by the link's."""
    image = next((k.image for k in ctx.target.kernels if k.version == ctx.kernel and k.image),
                 f"/boot/vmlinuz-{ctx.kernel}")
    packages = [kernel_package(ctx, ctx.kernel, image)]
    wanted = [link_end(ctx.files, p) for p in BOOT_FILES if ctx.files.lstat(p) is not None]
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
    # Compared on the host: dpkg --verify or rpm -V in the chroot would run the disk's programs.
    if family.package_db == "dpkg":
        result = verify_debian(ctx.files, packages)
    elif family.package_db == "rpm":
        records = rpm_records(ctx.root, packages)
        if records is None:
            return unchecked(CHECK, "the host's rpm cannot read the target's RPM database, so "
                             f"{', '.join(packages)} were not verified. Verify them with "
                             "rpm -V in the chroot (rescuetui shell).")
        result = verify_rpm_records(ctx.files, records)
    elif family.package_db == "pacman":
        result = verify_pacman(ctx.files, packages)
    else:
        return unchecked(CHECK, f"no host-side verification for {family.name}'s packages "
                         f"({', '.join(packages)}); run {' '.join(family.verify_command)} in "
                         "the chroot (rescuetui shell) to verify them.")
    altered = result.altered
    if not altered:
        if result.unchecked and not result.checked_files:
            return unchecked(CHECK, "; ".join(result.unchecked[:3]) + ".")
        return Finding(CHECK, True, "ok", f"{', '.join(packages)} verify against their digests"
                       + (f" (not checked: {'; '.join(result.unchecked[:3])})."
                          if result.unchecked else "."), evidence=result.unchecked[:10])
    damaged = sorted({o.package for o in owners(ctx, altered).values()}) or packages
    return Finding(CHECK, False, "damaged", f"Altered or missing: {', '.join(altered[:6])}"
                   + (" ..." if len(altered) > 6 else ""), evidence=result.evidence[:20],
                   data={"packages": damaged, "files": altered})
