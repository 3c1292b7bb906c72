"""Check: init and the shell can start: their loader and every library they need resolve, read
from ELF headers on the host (core/elf_deps.py), never with ldd in the chroot."""

from __future__ import annotations

import posixpath

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.packages import debian_owner, owners
from rescuetui.checks.permissions import LOADERS
from rescuetui.core.confined import ConfinedRoot
from rescuetui.core.elf_deps import NOT_EXECUTABLE, Resolution, resolve_program

CHECK = "libraries"
PROGRAMS = ("/sbin/init", "/bin/sh")
MAX_LIST_BYTES = 16 << 20
MAX_LINK_HOPS = 40


def link_end(files: ConfinedRoot, path: str) -> str:
    """The target path the links at `path` lead to, followed inside the root even where the
    end is missing (/sbin/init -> /lib/systemd/systemd, and that file gone)."""
    path = posixpath.normpath("/" + path.lstrip("/"))
    for _ in range(MAX_LINK_HOPS):
        parent, name = posixpath.split(path)
        here = posixpath.join(files.resolve(parent) or parent, name)
        link = files.readlink(here)
        if link is None:
            return here
        path = posixpath.normpath(link if link.startswith("/")
                                  else posixpath.join(posixpath.dirname(here), link))
    return path


def check_libraries(ctx: TargetContext) -> Finding:
    files = ctx.files
    missing: list[str] = []
    evidence: list[str] = []
    for program in PROGRAMS:
        if not files.exists(program):
            # A dangling link (/sbin/init -> /lib/systemd/systemd): what is gone is the file
            # it leads to, and that file's package is the one to reinstall, not the link's.
            real = link_end(files, program)
            missing.append(real)
            evidence.append(f"{program}: links to {real}, which is missing"
                            if files.is_symlink(program) else f"{program}: missing")
            continue
        found = resolve_program(files, program)
        if found.loader_broken or _libc_gone(found):
            return _cannot_run(ctx, found)
        for problem in found.problems:
            if problem.kind == NOT_EXECUTABLE:
                continue  # the permissions check's business: the libraries are there
            missing.append(problem.name)
            evidence.append(f"{program}: {problem.line()}")
    if not missing:
        return Finding(CHECK, True, "ok", "init and /bin/sh find every library they need.")
    found_owners = owners(ctx, missing)
    packages = sorted({o.package for o in found_owners.values()})
    return Finding(CHECK, False, "missing", f"Missing: {', '.join(missing)}"
                   + (f" (from {', '.join(packages)})" if packages else ""),
                   evidence=evidence,
                   data={"files": [o.path for o in found_owners.values()] or missing,
                         "packages": packages})


def _libc_gone(found: Resolution) -> bool:
    """libc itself is missing or broken: then no dynamic program of the target starts, the
    package manager included, and the fix has to work from the host side."""
    return any(p.name.startswith("libc.so.") for p in found.problems)


def _cannot_run(ctx: TargetContext, found: Resolution) -> Finding:
    problems = [p for p in found.problems if p.name == found.loader or p.name.startswith("libc.so.")]
    gone, package = _loader_package_missing(ctx)
    shown = problems[0].line() if problems else f"{found.program} cannot start"
    return Finding(CHECK, False, "cannot-run", f"Nothing runs in the target's chroot ({shown}): "
                   "the dynamic loader or libc is missing or not executable."
                   + (f" Missing from {package}: {', '.join(gone[:4])}"
                      + (" ..." if len(gone) > 4 else "") if gone else ""),
                   evidence=[p.line() for p in problems[:3]] + gone[:10],
                   data={"files": gone, "packages": [package] if gone else [],
                         "host_side": True})


def _loader_package_missing(ctx: TargetContext) -> tuple[list[str], str]:
    """When nothing runs: the files of the loader's package (libc6 on Debian) that are gone,
    read from dpkg's own file list on the disk, without running anything in the target."""
    loader = LOADERS.get(ctx.target.arch or "", "")
    owner = debian_owner(ctx, loader) if loader else None
    if owner is None:
        return [], ""
    files = ctx.files
    listing = next((f for f in files.glob("/var/lib/dpkg/info", f"{owner[0]}*.list")
                    if posixpath.basename(f)[:-5].split(":")[0] == owner[0]), None)
    text = files.read_text(listing, MAX_LIST_BYTES) if listing else None
    if text is None:
        return [], owner[0]
    gone = [line for line in text.splitlines()
            if line.startswith("/") and files.lstat(line) is None]
    return gone, owner[0]
