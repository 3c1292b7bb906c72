"""Check: SELinux as the target will meet it at boot — a mode in /etc/selinux/config that
libselinux understands, the policy SELINUXTYPE names actually installed, and labels on the files
boot needs. Enforcing with no policy stops systemd ("Failed to load SELinux policy", then it
freezes); files without a label are denied to every confined process.

The config is read the way libselinux reads it: `SELINUX=` only at the very start of a line, its
value matched by prefix and case-insensitively, the first understood line wins; `SELINUXTYPE=`
may be indented, the last one wins, `targeted` when there is none. Quotes are not stripped."""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any

from rescuetui.checks.base import Finding, TargetContext, unchecked
from rescuetui.checks.bootloader import LINUX_LINE
from rescuetui.core.text import from_disk, printable

CHECK = "selinux"
CONFIG = "/etc/selinux/config"
AUTORELABEL = "/.autorelabel"
MODES = ("enforcing", "permissive", "disabled")
DEFAULT_TYPE = "targeted"  # what libselinux uses when SELINUXTYPE= is absent
POLICY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
# Files every boot touches early: without a label, enforcing mode denies them to init and login.
LABELLED = ("/etc/passwd", "/etc/shadow", "/sbin/init")
XATTR = "security.selinux"
READ_LIMIT = 1 << 20
CMDLINE_OVERRIDES = re.compile(r"(?<!\S)(selinux|enforcing|autorelabel)=\S*")


@dataclass
class SelinuxConfig:
    """What libselinux would make of /etc/selinux/config."""

    mode: str | None  # enforcing, permissive, disabled; None: no SELINUX= line it understands
    type: str
    mode_line: int | None  # 0-based index of the SELINUX= line to edit (the one that counts)
    raw_mode: str = ""  # the first SELINUX= value as written, for messages
    type_written: bool = False
    notes: list[str] = field(default_factory=list)


def parse_config(raw: bytes) -> SelinuxConfig:
    lines = raw.split(b"\n")
    mode: str | None = None
    mode_line: int | None = None
    first_unknown: int | None = None
    raw_mode = ""
    policy_type: str | None = None
    notes: list[str] = []
    indented: list[int] = []
    if b"\0" in raw:
        notes.append(f"{CONFIG} holds binary bytes (NUL): it is damaged, not a text file")
    for index, line_bytes in enumerate(lines):
        line = from_disk(line_bytes)
        if line.startswith("SELINUX="):
            value = line[len("SELINUX="):].lstrip()
            found = next((m for m in MODES if value[:len(m)].lower() == m), None)
            if found and mode is None:
                mode, mode_line, raw_mode = found, index, value.strip()
            elif not found and first_unknown is None:
                first_unknown = index
                raw_mode = raw_mode or value.strip()
            continue
        stripped = line.lstrip()
        if stripped.startswith("SELINUX="):
            indented.append(index + 1)
        if stripped.upper().startswith("SELINUXTYPE="):
            # libselinux strips trailing blanks and control characters (a CR of CRLF included)
            policy_type = stripped[len("SELINUXTYPE="):].lstrip().rstrip(" \t\r\v\f\x00")
    if mode is None and first_unknown is not None:
        mode_line = first_unknown
    if mode is None:
        notes += [f"line {n} is indented: libselinux reads SELINUX= only at the start of a "
                  "line, so it ignores it" for n in indented]
    return SelinuxConfig(mode, DEFAULT_TYPE if policy_type is None else policy_type, mode_line,
                         raw_mode, policy_type is not None, notes)


def read_config(ctx: TargetContext) -> SelinuxConfig | None:
    """The target's SELinux config, or None when it has none (or it cannot be read)."""
    found = ctx.files.read(CONFIG, READ_LIMIT)
    return parse_config(found) if found is not None else None


def policy_files(ctx: TargetContext, policy_type: str) -> list[str]:
    """The non-empty binary policies /etc/selinux/TYPE/policy/policy.N that load_policy can use."""
    if not POLICY_NAME.fullmatch(policy_type):
        return []
    directory = f"/etc/selinux/{policy_type}/policy"
    found = []
    for name in ctx.files.listdir(directory):
        if not re.fullmatch(r"policy\.\d+", name):
            continue
        st = ctx.files.stat(f"{directory}/{name}")
        if st is not None and stat.S_ISREG(st.st_mode) and st.st_size > 0:
            found.append(f"{directory}/{name}")
    return found


def boot_command_lines(ctx: TargetContext) -> list[str]:
    """The kernel command lines of the boot entries: `linux` lines of grub.cfg and `options` of
    BLS entries, with GRUB's $kernelopts taken from grubenv (where RHEL 8 keeps them)."""
    kernelopts = ""
    for env in ("/boot/grub2/grubenv", "/boot/grub/grubenv"):
        for line in _read_text(ctx, env).splitlines():
            if line.startswith("kernelopts="):
                kernelopts = line[len("kernelopts="):]
    found: list[str] = []
    for config in dict.fromkeys(filter(None, (ctx.target.bootloader_config,
                                               "/boot/loader/entries"))):
        if ctx.files.is_dir(config):
            for name in [n for n in ctx.files.listdir(config) if n.endswith(".conf")]:
                for line in _read_text(ctx, f"{config}/{name}").splitlines():
                    words = line.split(None, 1)
                    if words[:1] == ["options"]:
                        found.append(words[1] if len(words) > 1 else "")
        else:
            found += [args for _, args in LINUX_LINE.findall(_read_text(ctx, config))]
    return [c.replace("${kernelopts}", kernelopts).replace("$kernelopts", kernelopts).strip()
            for c in found]


def _read_text(ctx: TargetContext, path: str) -> str:
    found = ctx.files.read(path, READ_LIMIT)
    return from_disk(found) if found is not None else ""


def unlabeled_files(ctx: TargetContext) -> list[str] | None:
    """Which of the key files have no SELinux label (or `unlabeled_t`); None when the
    filesystem cannot say (no extended attributes there)."""
    missing = []
    for path in LABELLED:
        try:
            # The file a link leads to, inside the target; its label read through the
            # descriptor's /proc link (an O_PATH descriptor takes no fgetxattr).
            with ctx.files.fd(path, os.O_PATH) as fd:
                label = os.getxattr(f"/proc/self/fd/{fd}", XATTR)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno == errno.ENODATA:
                missing.append(path)
                continue
            if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                return None
            continue
        if b":unlabeled_t:" in label:
            missing.append(path)
    return missing


def relabel_scheduled(ctx: TargetContext) -> bool:
    return ctx.files.lstat(AUTORELABEL) is not None


def needs_relabel(ctx: TargetContext) -> bool:
    """SELinux is on, no relabel is scheduled, and key files under the root have no label —
    as after restoring a backup without xattrs or editing files with SELinux disabled."""
    config = read_config(ctx)
    if config is None or config.mode not in ("enforcing", "permissive"):
        return False
    return not relabel_scheduled(ctx) and bool(unlabeled_files(ctx))


def check_selinux(ctx: TargetContext) -> Finding:
    if not ctx.files.exists(CONFIG):
        return Finding(CHECK, True, "ok", f"No {CONFIG}: SELinux is not configured on this "
                       "system.", data={"config": CONFIG, "mode": None, "type": None})
    found = ctx.files.read(CONFIG, READ_LIMIT)
    if found is None:
        return unchecked(CHECK, f"{CONFIG} could not be read: it is not a regular file.")
    config = parse_config(found)
    overrides = sorted({m.group(0) for line in boot_command_lines(ctx)
                        for m in CMDLINE_OVERRIDES.finditer(line)})
    evidence = list(config.notes) + [
        f"the boot loader config passes {printable(o)}, which overrides {CONFIG} for that "
        "entry" for o in overrides]
    data: dict[str, Any] = {"config": CONFIG, "mode": config.mode, "type": printable(config.type),
            "cmdline": [printable(o) for o in overrides]}
    if config.mode is None:
        if config.mode_line is None:
            why = "has no SELINUX= line that libselinux reads"
        else:
            why = (f"has SELINUX={printable(config.raw_mode)} on line {config.mode_line + 1}, "
                   "which is none of enforcing, permissive or disabled")
        data |= {"line": None if config.mode_line is None else config.mode_line + 1,
                 "value": printable(config.raw_mode)}
        return Finding(CHECK, False, "syntax", f"{CONFIG} {why}: libselinux then loads the "
                       "policy in permissive mode. Set the mode explicitly.", evidence, data)
    if config.mode == "disabled":
        return Finding(CHECK, True, "ok", f"SELinux is disabled in {CONFIG}.", evidence, data)
    if not POLICY_NAME.fullmatch(config.type):
        data |= {"value": printable(config.type)}
        return Finding(CHECK, False, "syntax", f"{CONFIG}: SELINUXTYPE={printable(config.type)} "
                       "is not a policy name (a directory under /etc/selinux).", evidence, data)
    policies = policy_files(ctx, config.type)
    if not policies:
        where = f"/etc/selinux/{config.type}/policy/"
        stops = ("systemd stops the boot ('Failed to load SELinux policy', then it freezes)"
                 if config.mode == "enforcing" else "the system boots without any SELinux "
                 "policy loaded")
        return Finding(CHECK, False, "policy-missing", f"SELinux is {config.mode} with policy "
                       f"'{printable(config.type)}', but {where} holds no policy file: {stops}. "
                       f"Install the policy package (e.g. selinux-policy-{config.type}), correct "
                       "SELINUXTYPE, or set SELinux to permissive.",
                       evidence=evidence + [f"no non-empty {where}policy.* file"], data=data)
    data["policy"] = policies[-1]
    if relabel_scheduled(ctx):
        evidence.append(f"{AUTORELABEL} exists: the next boot relabels the filesystems")
        data["relabel_scheduled"] = True
        return Finding(CHECK, True, "ok", f"SELinux is {config.mode} with the "
                       f"'{printable(config.type)}' policy installed; a relabel is scheduled.",
                       evidence, data)
    unlabeled = unlabeled_files(ctx)
    if unlabeled:
        data["files"] = unlabeled
        denied = ("confined services and logins are denied them" if config.mode == "enforcing"
                  else "in enforcing mode confined services and logins would be denied them")
        return Finding(CHECK, False, "unlabeled", f"SELinux is {config.mode}, but "
                       f"{', '.join(unlabeled)} carry no SELinux label: {denied}. Relabel the "
                       "filesystem at the next boot.",
                       evidence=evidence + [f"{p}: no SELinux label ({XATTR})" for p in unlabeled],
                       data=data)
    if unlabeled is None:
        evidence.append("the root filesystem shows no extended attributes here: labels not "
                        "checked")
    return Finding(CHECK, True, "ok", f"SELinux is {config.mode} with the "
                   f"'{printable(config.type)}' policy installed.", evidence, data)
