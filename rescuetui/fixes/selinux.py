"""Fixes for SELinux stopping the boot: set the mode to permissive (the policy then only logs
its denials, so a missing policy or wrong labels no longer stop anything), or schedule a full
relabel at the next boot with /.autorelabel. Only the SELINUX= line changes; every other byte
of the config stays as it was."""

from __future__ import annotations

import re

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.selinux import (
    AUTORELABEL,
    CONFIG,
    READ_LIMIT,
    SelinuxConfig,
    boot_command_lines,
    parse_config,
    policy_files,
    relabel_scheduled,
)
from rescuetui.core.text import printable
from rescuetui.fixes.base import FileEdit, FixPlan, unified_diff

FIX_PERMISSIVE = "selinux-permissive"
FIX_RELABEL = "selinux-relabel"
MODE_VALUE = re.compile(rb"^(SELINUX=[ \t]*)(\S*)")
UNDO = "rescuetui undo restores the file from the journal's backup."


def set_mode(raw: bytes, mode: str) -> bytes | None:
    """`raw` with the value of the SELINUX= line libselinux reads replaced by `mode`; the rest
    of that line (a comment, a CR) and every other line unchanged. None: no such line."""
    index = parse_config(raw).mode_line
    if index is None:
        return None
    lines = raw.split(b"\n")
    lines[index] = MODE_VALUE.sub(lambda m: m.group(1) + mode.encode(), lines[index], count=1)
    return b"\n".join(lines)


def _read_config(ctx: TargetContext) -> tuple[bytes, SelinuxConfig] | str:
    """The config's bytes and meaning, or why there is nothing to edit."""
    if ctx.files.is_symlink(CONFIG):
        return (f"{CONFIG} is a symbolic link; rescuetui edits only regular files. Edit the file "
                "it points to by hand.")
    if ctx.files.lstat(CONFIG) is None:
        return f"There is no {CONFIG} on the target, so there is no SELinux mode to change."
    raw = ctx.files.read(CONFIG, READ_LIMIT + 1)
    if raw is None:
        return f"{CONFIG} is not a regular file (a FIFO, a device node); check it by hand."
    if len(raw) > READ_LIMIT:
        return f"{CONFIG} is larger than 1 MiB, which no SELinux config is; look at it by hand."
    return raw, parse_config(raw)


def _enforcing_on_cmdline(ctx: TargetContext) -> bool:
    return any(re.search(r"(?<!\S)enforcing=1(?!\S)", c) for c in boot_command_lines(ctx))


def plan_selinux_permissive(ctx: TargetContext, finding: Finding) -> FixPlan:
    plan = FixPlan(FIX_PERMISSIVE, why=finding.summary,
                   risk="Medium for security, low for the boot: in permissive mode SELinux still "
                        "logs every denial (AVC) but enforces nothing, so its protection is off "
                        "until the mode is set back to enforcing.",
                   files=[CONFIG], undo=UNDO)
    read = _read_config(ctx)
    if isinstance(read, str):
        plan.blocked = read
        return plan
    raw, config = read
    if config.mode == "disabled":
        plan.blocked = (f"SELinux is disabled in {CONFIG}; permissive would turn it on, and then "
                        "every file written meanwhile needs a relabel. Nothing to repair here.")
        return plan
    after = set_mode(raw, "permissive")
    if after is None:
        plan.blocked = (f"{CONFIG} has no SELINUX= line at the start of a line to change; add "
                        "`SELINUX=permissive` by hand if SELinux is meant to be on.")
        return plan
    if config.mode == "permissive" or after == raw:
        plan.why = f"SELinux is already permissive in {CONFIG}: nothing to change."
        return plan
    if config.mode is None:
        plan.why += (f" The unknown value {printable(config.raw_mode)} already acts as "
                     "permissive; this writes it out.")
    if _enforcing_on_cmdline(ctx):
        plan.risk += (" The boot entries pass enforcing=1, which overrides the file: remove it "
                      "from the kernel command line too.")
    plan.diff = unified_diff(CONFIG, raw, after)
    plan.edits.append(FileEdit(CONFIG, "SELinux: SELINUX=permissive", content=after))
    return plan


def plan_selinux_relabel(ctx: TargetContext, finding: Finding) -> FixPlan:
    plan = FixPlan(FIX_RELABEL, why=finding.summary,
                   risk="Low for the data, long for the boot: the next boot relabels every file "
                        "on every SELinux-capable filesystem before it goes on (minutes, up to "
                        "hours on big disks), then reboots once by itself. Do not interrupt it.",
                   files=[AUTORELABEL],
                   undo=f"rescuetui undo removes {AUTORELABEL} again (before the next boot).")
    read = _read_config(ctx)
    if isinstance(read, str):
        plan.blocked = read
        return plan
    _, config = read
    if config.mode not in ("enforcing", "permissive"):
        plan.blocked = (f"SELinux is {config.mode or 'not set to a known mode'} in {CONFIG}: "
                        "the relabel runs only with SELinux on. Fix the mode first.")
        return plan
    if not policy_files(ctx, config.type):
        plan.blocked = (f"The '{printable(config.type)}' policy is not installed, and the "
                        "relabel needs its file contexts: install the policy package first.")
        return plan
    if relabel_scheduled(ctx):
        plan.why = f"{AUTORELABEL} already exists: the next boot relabels. Nothing to change."
        return plan
    if config.mode == "enforcing":
        plan.risk += (" SELinux is enforcing, and wrong labels can stop the relabel boot "
                      "itself: for that one boot add enforcing=0 to the kernel command line (in "
                      "the GRUB menu press e, append enforcing=0 to the linux line, then Ctrl-x), "
                      "or apply selinux-permissive first.")
    plan.edits.append(FileEdit(AUTORELABEL, "SELinux: relabel at the next boot", content=b""))
    return plan
