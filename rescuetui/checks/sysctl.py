"""Check: the settings that turn a recoverable kernel event into a panic (kernel.panic_on_oops,
softlockup_panic, hung_task_panic, vm.panic_on_oom, unknown_nmi_panic ...), read from the
target's sysctl configuration on the host in the order systemd-sysctl applies it (the last
assignment wins). Not a problem in itself: the run-time branches of the tree show them."""

from __future__ import annotations

import re

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.text import from_disk, printable

CHECK = "sysctl"
PANIC_KEYS = ("kernel.panic_on_oops", "kernel.softlockup_panic", "kernel.hardlockup_panic",
              "kernel.hung_task_panic", "kernel.panic_on_warn", "kernel.unknown_nmi_panic",
              "kernel.panic_on_rcu_stall", "vm.panic_on_oom", "kernel.panic")
# systemd-sysctl's order: files by name across these directories (/etc wins a tie), then
# /etc/sysctl.conf last.
DIRS = ("/usr/lib/sysctl.d", "/lib/sysctl.d", "/usr/local/lib/sysctl.d", "/run/sysctl.d",
        "/etc/sysctl.d")
READ_LIMIT = 1 << 20
ASSIGN = re.compile(r"^\s*-?\s*([A-Za-z0-9_./-]+)\s*=\s*(\S*)")


def sysctl_files(ctx: TargetContext) -> list[str]:
    by_name: dict[str, str] = {}
    for directory in DIRS:
        for name in ctx.files.listdir(directory):
            if name.endswith(".conf"):
                by_name[name] = f"{directory}/{name}"  # a later directory overrides
    return [by_name[n] for n in sorted(by_name)] + ["/etc/sysctl.conf"]


def panic_settings(ctx: TargetContext) -> dict[str, tuple[str, str]]:
    """key -> (value, file that set it last), for the panic keys the target sets."""
    found: dict[str, tuple[str, str]] = {}
    for path in sysctl_files(ctx):
        raw = ctx.files.read(path, READ_LIMIT)
        for line in from_disk(raw or b"").splitlines():
            m = ASSIGN.match(line)
            if m and m.group(1).replace("/", ".") in PANIC_KEYS:
                found[m.group(1).replace("/", ".")] = (m.group(2), path)
    return found


def check_sysctl(ctx: TargetContext) -> Finding:
    settings = panic_settings(ctx)
    on = {k: v for k, v in settings.items() if k != "kernel.panic" and v[0] not in ("", "0")}
    data = {"settings": {k: v[0] for k, v in settings.items()}}
    evidence = [f"{printable(path)}: {key} = {printable(value)}"
                for key, (value, path) in settings.items()]
    if on:
        return Finding(CHECK, True, "panics-on", "These settings turn a recoverable event into "
                       "a panic: " + ", ".join(f"{k}={printable(v[0])}" for k, v in on.items())
                       + ".", evidence=evidence, data=data)
    return Finding(CHECK, True, "ok", "No sysctl setting turns oopses, lockups, hung tasks or "
                   "OOM into panics (the kernel's defaults apply).", evidence=evidence, data=data)
