"""Check: the modes and owners of what boot and a login need.

Always, by rule: the loader, init and the shell executable; /, /usr, /etc root-owned 0755;
/tmp and /var/tmp 1777; sudo and su setuid root; sshd's host keys private (sshd ignores a key
others can read, and refuses to start with none). Then, where the package database can say
it: every file of the essential and boot packages against its package (Debian: the .deb in the
apt cache; RPM: every package's records, read by the host's rpm). Nothing runs in the target.
"""

from __future__ import annotations

import fnmatch
import stat

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.package_modes import debian_mode_differences, rpm_mode_differences

CHECK = "permissions"
# directory -> (mode, owner uid)
EXPECTED = {"/": (0o755, 0), "/usr": (0o755, 0), "/etc": (0o755, 0), "/tmp": (0o1777, 0),
            "/var/tmp": (0o1777, 0)}
LOADERS = {"x86_64": "/lib64/ld-linux-x86-64.so.2", "aarch64": "/lib/ld-linux-aarch64.so.1",
           "i686": "/lib/ld-linux.so.2"}
EXECUTABLES = ("/sbin/init", "/bin/sh")
SETUID_ROOT = ("/usr/bin/sudo", "/usr/bin/su", "/bin/su")
RPM_FAMILIES = ("rhel", "suse", "azurelinux")


def _real(ctx: TargetContext, path: str) -> str | None:
    """The path, in the target, of the file `path` names (links followed), if it exists."""
    return ctx.files.resolve(path)


def _executables(ctx: TargetContext) -> list[dict[str, str]]:
    wrong = []
    loader = LOADERS.get(ctx.target.arch or "", "")
    for path in filter(None, (loader, *EXECUTABLES)):
        real = _real(ctx, path)  # the file a link points to: its mode is what counts
        st = ctx.files.lstat(real) if real is not None else None
        if real is None or st is None:
            continue
        mode = st.st_mode & 0o7777
        if mode & 0o111 != 0o111:
            wrong.append({"path": real, "mode": f"{mode:04o}", "expected": f"{mode | 0o755:04o}",
                          "why": "not executable by all"})
    return wrong


def _directories(ctx: TargetContext) -> list[dict[str, str]]:
    wrong = []
    for path, (mode, uid) in EXPECTED.items():
        st = ctx.files.stat(path)
        if st is None or not stat.S_ISDIR(st.st_mode):
            continue
        actual = st.st_mode & 0o7777
        if actual != mode or st.st_uid != uid:
            wrong.append({"path": path, "mode": f"{actual:04o}", "expected": f"{mode:04o}",
                          "uid": str(uid), "gid": "0",
                          "why": f"owner {st.st_uid}:{st.st_gid}, mode {actual:04o}"})
    return wrong


def _setuid(ctx: TargetContext) -> list[dict[str, str]]:
    wrong, seen = [], set()
    for path in SETUID_ROOT:
        real = _real(ctx, path)
        st = ctx.files.lstat(real) if real is not None else None
        if real is None or st is None or real in seen:
            continue
        seen.add(real)
        mode = st.st_mode & 0o7777
        if not mode & 0o4000 or st.st_uid != 0:
            wrong.append({"path": real, "mode": f"{mode:04o}", "expected": f"{mode | 0o4000:04o}",
                          "uid": "0", "why": f"must be setuid root to work (owner {st.st_uid}, "
                                             f"mode {mode:04o})"})
    return wrong


def _ssh_host_keys(ctx: TargetContext) -> list[dict[str, str]]:
    """Private host keys: 0600 root (RHEL: 0640 with group ssh_keys is fine too)."""
    wrong = []
    for key in ctx.files.entries("/etc/ssh"):
        if not key.is_file or not fnmatch.fnmatchcase(key.name, "ssh_host_*_key"):
            continue  # a link, a FIFO: no key file of sshd's
        st = key.st
        mode = st.st_mode & 0o7777
        if mode & 0o037 or st.st_uid != 0:
            expected = 0o640 if mode & 0o040 and st.st_gid != 0 else 0o600
            wrong.append({"path": f"/etc/ssh/{key.name}", "mode": f"{mode:04o}",
                          "expected": f"{expected:04o}", "uid": "0",
                          "why": "sshd ignores a private host key others can read"})
    return wrong


def check_permissions(ctx: TargetContext) -> Finding:
    wrong = _executables(ctx) + _directories(ctx) + _setuid(ctx) + _ssh_host_keys(ctx)
    notes: list[str] = []
    rpm_packages: list[str] = []
    unreadable: list[str] = []
    family = ctx.family.name if ctx.family else ""
    if family == "debian":
        by_package, without, unreadable = debian_mode_differences(ctx)
        # The package says everything (mode, owner, group): it wins over a rule.
        from_package = {w["path"] for w in by_package}
        wrong = [w for w in wrong if w["path"] not in from_package] + by_package
        if without:
            notes.append("no archive in the apt cache to compare modes against for: "
                         + ", ".join(without))
        notes += [f"{why} Its package's modes and owners were not checked."
                  for why in unreadable]
    elif family in RPM_FAMILIES:
        compared = rpm_mode_differences(ctx)
        if compared is None:
            notes.append("the host's rpm cannot read the RPM database: the packages' modes "
                         "and owners were not checked")
        else:
            changed, rpm_packages = compared
            wrong += [c for c in changed if c["path"] not in {w["path"] for w in wrong}]
    data = {"files": [w for w in wrong if "expected" in w], "rpm_packages": rpm_packages,
            "notes": notes}
    if not wrong and family == "debian" and unreadable:
        return Finding(CHECK, False, "unchecked", "Could not check the modes of every essential "
                       f"package: {len(unreadable)} archive(s) in the apt cache cannot be read "
                       f"({unreadable[0]}) Remove the damaged file from /var/cache/apt/archives "
                       "or put a good copy of the same version there, and run again.",
                       evidence=notes, data=data)
    if not wrong:
        return Finding(CHECK, True, "ok", "The loader, init, the shell, setuid programs, host "
                       "keys and the top directories have their modes and owners"
                       + (" and the essential packages match their archives." if family ==
                          "debian" and not notes else "."), evidence=notes, data=data)
    shown = ", ".join(f"{w['path']} is {w['mode']} (want {w['expected']})" if "expected" in w
                      else f"{w['path']} ({w['why']})" for w in wrong[:6])
    return Finding(CHECK, False, "wrong", f"Wrong modes or owners: {shown}"
                   + (f" and {len(wrong) - 6} more" if len(wrong) > 6 else ""),
                   evidence=[f"{w['path']}: {w['why']}" for w in wrong[:40]] + notes, data=data)
