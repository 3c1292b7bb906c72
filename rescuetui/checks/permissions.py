"""Check: the modes and owners of what boot needs (loader, libc, init, shell, top directories)."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext

CHECK = "permissions"
# directory -> (mode, owner uid)
EXPECTED = {"/": (0o755, 0), "/usr": (0o755, 0), "/etc": (0o755, 0), "/tmp": (0o1777, 0),
            "/var/tmp": (0o1777, 0)}
LOADERS = {"x86_64": "/lib64/ld-linux-x86-64.so.2", "aarch64": "/lib/ld-linux-aarch64.so.1",
           "i686": "/lib/ld-linux.so.2"}
EXECUTABLES = ("/sbin/init", "/bin/sh")


def check_permissions(ctx: TargetContext) -> Finding:
    wrong: list[dict[str, str]] = []
    loader = LOADERS.get(ctx.target.arch or "", "")
    for path in filter(None, (loader, *EXECUTABLES)):
        host = ctx.path(path)  # the file a link points to: its mode is what counts
        if not host.exists():
            continue
        mode = host.stat().st_mode & 0o7777
        if mode & 0o111 != 0o111:
            wrong.append({"path": "/" + str(host.relative_to(ctx.root)), "mode": f"{mode:04o}",
                          "expected": f"{mode | 0o755:04o}", "why": "not executable by all"})
    for path, (mode, uid) in EXPECTED.items():
        host = ctx.path(path)
        if not host.is_dir():
            continue
        st = host.stat()
        actual = st.st_mode & 0o7777
        if actual != mode or st.st_uid != uid:
            wrong.append({"path": path, "mode": f"{actual:04o}", "expected": f"{mode:04o}",
                          "why": f"owner {st.st_uid}:{st.st_gid}, mode {actual:04o}"})
    if not wrong:
        return Finding(CHECK, True, "ok", "The loader, init, the shell and the top directories "
                       "have their usual modes and owners.")
    return Finding(CHECK, False, "wrong", "Wrong modes: " + ", ".join(
        f"{w['path']} is {w['mode']} (want {w['expected']})" for w in wrong),
        evidence=[f"{w['path']}: {w['why']}" for w in wrong], data={"files": wrong})
