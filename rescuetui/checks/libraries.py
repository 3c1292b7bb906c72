"""Check: init and the shell can start: every library they need resolves (ldd in the chroot)."""

from __future__ import annotations

import os

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.packages import debian_owner, owners, really_missing
from rescuetui.checks.permissions import LOADERS

CHECK = "libraries"
PROGRAMS = ("/sbin/init", "/bin/sh")


def check_libraries(ctx: TargetContext) -> Finding:
    missing: list[str] = []
    evidence: list[str] = []
    for program in PROGRAMS:
        if not ctx.path(program).exists():
            # A dangling link (/sbin/init -> /lib/systemd/systemd): what is gone is the file
            # it leads to, and that file's package is the one to reinstall, not the link's.
            real = really_missing(ctx, program)
            missing.append(real)
            dangling = os.path.lexists(ctx.path(program, follow_last=False))
            evidence.append(f"{program}: links to {real}, which is missing" if dangling
                            else f"{program}: missing")
            continue
        result = ctx.chroot("ldd", program)
        if result.returncode in (126, 127) and any("ermission denied" in t or "No such file" in t
                                                   for t in result.tail):
            gone, package = _loader_package_missing(ctx)
            return Finding(CHECK, False, "cannot-run", "Nothing runs in the target's chroot "
                           f"({result.tail[-1] if result.tail else 'exit ' + str(result.returncode)}"
                           "): the dynamic loader or libc is missing or not executable."
                           + (f" Missing from {package}: {', '.join(gone[:4])}"
                              + (" ..." if len(gone) > 4 else "") if gone else ""),
                           evidence=result.tail[-3:] + gone[:10],
                           data={"files": gone, "packages": [package] if gone else [],
                                 "host_side": True})
        for line in result.tail:
            if "not found" in line:
                name = line.strip().split()[0]
                missing.append(name)
                evidence.append(f"{program}: {line.strip()}")
    if not missing:
        return Finding(CHECK, True, "ok", "init and /bin/sh find every library they need.")
    found = owners(ctx, missing)
    packages = sorted({o.package for o in found.values()})
    return Finding(CHECK, False, "missing", f"Missing: {', '.join(missing)}"
                   + (f" (from {', '.join(packages)})" if packages else ""),
                   evidence=evidence, data={"files": [o.path for o in found.values()] or missing,
                                            "packages": packages})


def _loader_package_missing(ctx: TargetContext) -> tuple[list[str], str]:
    """When nothing runs: the files of the loader's package (libc6 on Debian) that are gone,
    read from dpkg's own file list on the disk, without running anything in the target."""
    loader = LOADERS.get(ctx.target.arch or "", "")
    owner = debian_owner(ctx, loader) if loader else None
    if owner is None:
        return [], ""
    info = ctx.path("/var/lib/dpkg/info")
    listing = next((f for f in sorted(info.glob(f"{owner[0]}*.list"))
                    if f.stem.split(":")[0] == owner[0]), None)
    if listing is None:
        return [], owner[0]
    gone = [line for line in listing.read_text(errors="replace").splitlines()
            if line.startswith("/") and not os.path.lexists(ctx.path(line, follow_last=False))]
    return gone, owner[0]
