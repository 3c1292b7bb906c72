"""Check: init and the shell can start: every library they need resolves (ldd in the chroot)."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.packages import debian_owner

CHECK = "libraries"
PROGRAMS = ("/sbin/init", "/bin/sh")


def check_libraries(ctx: TargetContext) -> Finding:
    missing: list[str] = []
    evidence: list[str] = []
    for program in PROGRAMS:
        if not ctx.path(program).exists():
            missing.append(program)
            evidence.append(f"{program}: missing")
            continue
        result = ctx.chroot("ldd", program)
        if result.returncode in (126, 127) and any("ermission denied" in t or "No such file" in t
                                                   for t in result.tail):
            return Finding(CHECK, False, "cannot-run", "Nothing runs in the target's chroot "
                           f"({result.tail[-1] if result.tail else 'exit ' + str(result.returncode)}"
                           "): the dynamic loader or libc is missing or not executable.",
                           evidence=result.tail[-3:])
        for line in result.tail:
            if "not found" in line:
                name = line.strip().split()[0]
                missing.append(name)
                evidence.append(f"{program}: {line.strip()}")
    if not missing:
        return Finding(CHECK, True, "ok", "init and /bin/sh find every library they need.")
    owners = {}
    if ctx.family and ctx.family.name == "debian":
        for name in missing:
            owner = debian_owner(ctx, name)
            if owner:
                owners[name] = owner
    packages = sorted({pkg for pkg, _ in owners.values()})
    return Finding(CHECK, False, "missing", f"Missing: {', '.join(missing)}"
                   + (f" (from {', '.join(packages)})" if packages else ""),
                   evidence=evidence, data={"files": [p for _, p in owners.values()] or missing,
                                            "packages": packages})
