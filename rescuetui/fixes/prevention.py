"""Prevention fixes, so that the next failure is visible: the kernel, systemd and GRUB also on
the first serial port (what a cloud serial console shows), and kdump, which saves the memory of
a crashed kernel (a vmcore and its dmesg) for analysis. Each family does both its own way. The
plans add only what is missing, so planning again after applying plans nothing.

/etc/default/grub is a shell fragment: one assignment is edited at a time, the last one (the
one the shell keeps), with its quotes, comment and line ending; every other line keeps its
bytes. An assignment that spans lines or holds quotes or escapes is refused, not guessed."""

from __future__ import annotations

import re

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.default_kernel import default_command_line
from rescuetui.checks.selinux import READ_LIMIT, boot_command_lines
from rescuetui.core.distros import DistroFamily
from rescuetui.core.text import from_disk
from rescuetui.fixes.base import FileEdit, FixPlan, Step, unified_diff

SERIAL = "serial-console"
KDUMP = "kdump-enable"
DEFAULT_GRUB = "/etc/default/grub"
GRUB_DROPINS = "/etc/default/grub.d"
KDUMP_TOOLS = "/etc/default/kdump-tools"
CONSOLE_ARGS = ("console=tty0", "console=ttyS0,115200n8")
GRUB_TERMINAL = "console serial"
GRUB_SERIAL_COMMAND = "serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1"
GRUBBY_FAMILIES = ("rhel", "azurelinux")  # boot entries are changed with grubby, not regenerated
CRASHKERNEL = {
    "debian": "crashkernel=384M-:128M",  # what Debian's kdump-tools itself adds (grub.d drop-in)
    "rhel": "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M",  # kexec-tools' default on RHEL 9
    "azurelinux": "crashkernel=256M",  # Azure Linux's kexec-tools default
    "suse": "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M",  # a start: kdumptool calibrate refines
}
KDUMP_INSTALLED = {  # a file only the kdump package ships
    "debian": ("/usr/sbin/kdump-config", "/sbin/kdump-config"),
    "rhel": ("/usr/bin/kdumpctl", "/usr/sbin/kdumpctl"),
    "azurelinux": ("/usr/bin/kdumpctl", "/usr/sbin/kdumpctl"),
    "suse": ("/usr/sbin/kdumptool", "/usr/lib/systemd/system/kdump.service"),
}
KDUMP_INSTALL = {
    "debian": ["apt-get", "install", "-y", "kdump-tools"],
    "rhel": ["dnf", "install", "-y", "kexec-tools"],
    "azurelinux": ["tdnf", "install", "-y", "kexec-tools"],
    "suse": ["zypper", "--non-interactive", "install", "kdump"],
}
KDUMP_ENABLED = "/etc/systemd/system/multi-user.target.wants/kdump.service"
KDUMP_UNIT = {"debian": "kdump-tools.service"}  # the others: kdump.service
SYSTEMD_ETC = "/etc/systemd/system"
TERMINAL_LINE = re.compile(r"^\s*terminal_(?:output|input)\b(.*)$", re.MULTILINE)
VT_CONSOLE = re.compile(r"console=tty\d+")
ASSIGNMENT = re.compile(rb"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=")
EDITABLE = re.compile(rb"(?P<head>[ \t]*(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_]*=)"
                      rb"(?P<value>\"[^\"\\`]*\"|'[^']*'|[^\s\"'\\;&|<>()`#]*)"
                      rb"(?P<tail>[ \t]*(?:#.*)?)")
BARE = re.compile(rb"[\w.,:=/+@%-]+")
REGENERATE = (" Regenerating the GRUB config in the chroot can write the rescue host's device as "
              "root=; the bootloader check runs again afterwards.")


class CannotEdit(Exception):
    """A file the plan would change is not safe to edit; the message says why and what to do."""


# -- shell assignments ---------------------------------------------------------------------------

def _last_assignment(lines: list[bytes], name: str) -> tuple[int, re.Match[bytes]] | None:
    found = None
    for index, line in enumerate(lines):
        start = ASSIGNMENT.match(line)
        if start is None or start.group(1) != name.encode():
            continue
        match = EDITABLE.fullmatch(line.rstrip(b"\r"))
        if match is None:
            raise CannotEdit(f"Line {index + 1} ({name}=...) spans lines or holds quotes, escapes "
                             "or commands that rescuetui does not edit; change it by hand.")
        found = (index, match)
    return found


def shell_value(raw: bytes, name: str) -> str | None:
    """The value the last `NAME=` assignment gives, without its quotes; None when absent."""
    found = _last_assignment(raw.split(b"\n"), name)
    if found is None:
        return None
    value = found[1].group("value")
    return from_disk(value[1:-1] if value[:1] in (b'"', b"'") else value)


def set_shell_value(raw: bytes, name: str, value: str) -> bytes:
    """`raw` with the last `NAME=` assignment changed in place (its quotes, comment and line
    ending kept), or a `NAME=value` line appended when there is none."""
    lines = raw.split(b"\n")
    new = value.encode("utf-8", "surrogateescape")
    found = _last_assignment(lines, name)
    if found is None:
        newline = b"\r\n" if b"\r\n" in raw else b"\n"
        quote = b"" if BARE.fullmatch(new) else b'"'
        body = raw if not raw or raw.endswith(b"\n") else raw + newline
        return body + name.encode() + b"=" + quote + new + quote + newline
    index, match = found
    old = match.group("value")
    quote = old[:1] if old[:1] in (b'"', b"'") else (b"" if BARE.fullmatch(new) else b'"')
    if quote and (quote in new or b"\\" in new):
        raise CannotEdit(f"{name} cannot hold {value!r} in its quotes; change it by hand.")
    end = b"\r" if lines[index].endswith(b"\r") else b""
    lines[index] = match.group("head") + quote + new + quote + match.group("tail") + end
    return b"\n".join(lines)


def _append_args(cmdline: str, args: list[str]) -> str:
    if not args:
        return cmdline
    return (cmdline.rstrip() + " " if cmdline.strip() else "") + " ".join(args)


def with_serial_console(cmdline: str) -> str:
    """A kernel command line whose last console is ttyS0 (so /dev/console, where systemd writes,
    is the serial port) with a screen console too; the other arguments stay as they are."""
    consoles = [t for t in cmdline.split() if t.startswith("console=")]
    has_vt = any(VT_CONSOLE.fullmatch(t) for t in consoles)
    if has_vt and consoles[-1].startswith("console=ttyS0"):
        return cmdline
    kept = re.sub(r"(?<!\S)console=ttyS0\S*\s*", "", cmdline)
    return _append_args(kept, ([] if has_vt else [CONSOLE_ARGS[0]]) + [CONSOLE_ARGS[1]])


def with_crashkernel(cmdline: str, arg: str) -> str:
    if any(t.startswith("crashkernel=") for t in cmdline.split()):
        return cmdline
    return _append_args(cmdline, [arg])


def serial_console_grub(raw: bytes) -> bytes:
    """/etc/default/grub with the serial console on the kernel command line and GRUB's own
    terminal on both the screen and the serial port."""
    cmdline = shell_value(raw, "GRUB_CMDLINE_LINUX")
    wanted = with_serial_console(cmdline or "")
    if cmdline is None or wanted != cmdline:
        raw = set_shell_value(raw, "GRUB_CMDLINE_LINUX", wanted)
    terminal = shell_value(raw, "GRUB_TERMINAL")
    if terminal is None or set(terminal.split()) != set(GRUB_TERMINAL.split()):
        raw = set_shell_value(raw, "GRUB_TERMINAL", GRUB_TERMINAL)
    serial = shell_value(raw, "GRUB_SERIAL_COMMAND")
    if serial is None or serial.split() != GRUB_SERIAL_COMMAND.split():
        raw = set_shell_value(raw, "GRUB_SERIAL_COMMAND", GRUB_SERIAL_COMMAND)
    return raw


# -- reading the target --------------------------------------------------------------------------

def _read(ctx: TargetContext, path: str) -> bytes | None:
    """A config file's bytes, None when it is absent; CannotEdit when it must not be edited."""
    if ctx.files.is_symlink(path):
        raise CannotEdit(f"{path} is a symbolic link; rescuetui edits only regular files. Edit "
                         "the file it points to by hand.")
    if ctx.files.lstat(path) is None:
        return None
    raw = ctx.files.read(path, READ_LIMIT + 1)
    if raw is None:
        raise CannotEdit(f"{path} is not a regular file (a FIFO, a device node, a directory); "
                         "check it by hand.")
    if len(raw) > READ_LIMIT:
        raise CannotEdit(f"{path} is larger than 1 MiB, which no such config is; look at it.")
    if b"\0" in raw:
        raise CannotEdit(f"{path} holds binary bytes (NUL): it is damaged, not a config. Restore "
                         "it from a backup or its package, then plan this again.")
    return raw


def _on_every_entry(ctx: TargetContext, prefix: str) -> bool:
    """Whether every boot entry's kernel command line has an argument starting with `prefix`."""
    lines = boot_command_lines(ctx)
    return bool(lines) and all(any(t.startswith(prefix) for t in line.split()) for line in lines)


def _grub_sets_crashkernel(ctx: TargetContext, raw: bytes) -> bool:
    values = [shell_value(raw, name) or ""
              for name in ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT")]
    for name in ctx.files.listdir(GRUB_DROPINS):  # none: no drop-in directory
        found = ctx.files.read(f"{GRUB_DROPINS}/{name}", READ_LIMIT) \
            if name.endswith(".cfg") else None
        if found is not None:
            values.append(from_disk(found))
    return any(re.search(r"(?<!\S)crashkernel=", v) for v in values)


def _edit(plan: FixPlan, path: str, before: bytes | None, after: bytes, reason: str) -> None:
    if after == before:
        return
    plan.edits.append(FileEdit(path, reason, content=after))
    plan.diff += unified_diff(path, before or b"", after)
    if path not in plan.files:
        plan.files.append(path)


def _regenerate(plan: FixPlan, family: DistroFamily) -> None:
    plan.steps += [Step(argv) for argv in family.regenerate_grub()]
    plan.files.append(family.grub_command[-1])
    plan.risk += REGENERATE


# -- plans ---------------------------------------------------------------------------------------

def plan_serial_console(ctx: TargetContext, finding: Finding) -> FixPlan:
    plan = FixPlan(SERIAL, why="So that the next failure is visible: kernel messages, systemd and "
                   "its emergency shell, and GRUB's menu also go to the first serial port "
                   "(ttyS0 at 115200 baud, what a cloud serial console shows), and stay on the "
                   "screen.",
                   risk="Low: only where boot messages are shown changes; nothing else does.",
                   undo=f"rescuetui undo restores {DEFAULT_GRUB}; then regenerate the GRUB config "
                        "(or run grubby --update-kernel=ALL --remove-args=console=ttyS0,115200n8) "
                        "to take the console off the boot entries.")
    family = ctx.family
    if family is None:
        plan.blocked = "The distro family is not known, so neither is how it configures GRUB."
        return plan
    try:
        before = _read(ctx, DEFAULT_GRUB)
        if before is None and family.name not in GRUBBY_FAMILIES:
            plan.blocked = (f"There is no {DEFAULT_GRUB} on the target, so GRUB's settings cannot "
                            "be changed here; create it from the grub package's default first.")
            return plan
        if before is not None:
            _edit(plan, DEFAULT_GRUB, before, serial_console_grub(before),
                  "serial console: kernel command line and GRUB terminal")
    except CannotEdit as exc:
        plan.blocked = str(exc)
        return plan
    entries_ready = _on_every_entry(ctx, "console=ttyS0")
    if family.name in GRUBBY_FAMILIES:
        if not entries_ready:
            plan.steps.append(Step(["grubby", "--update-kernel=ALL",
                                    "--args=" + " ".join(CONSOLE_ARGS)]))
            plan.files.append(ctx.target.bootloader_config or "/boot/loader/entries")
            plan.risk += (" grubby changes the entry of every installed kernel" + (
                f"; {DEFAULT_GRUB} carries the setting to kernels installed later. GRUB's own "
                "menu moves to the serial port the next time grub2-mkconfig runs (not here: in "
                "the chroot it would write the rescue host's device as root=)."
                if before is not None else f". There is no {DEFAULT_GRUB}, so GRUB's own menu "
                "stays on the screen."))
    elif plan.edits or not entries_ready:
        _regenerate(plan, family)
    if not plan.steps and not plan.edits:
        plan.why = ("The serial console is already configured: the kernel command line of every "
                    f"boot entry has console=ttyS0 and {DEFAULT_GRUB} sets GRUB's terminal. "
                    "Nothing to change.")
    return plan


def plan_kdump(ctx: TargetContext, finding: Finding) -> FixPlan:
    plan = FixPlan(KDUMP, why="So that the next kernel panic leaves a dump: kdump loads a capture "
                   "kernel into memory reserved by crashkernel=, which saves the crashed kernel's "
                   "memory and its dmesg to /var/crash for analysis.",
                   risk="Medium: crashkernel= reserves memory (128 MiB or more) that the system "
                        "cannot use from the next boot on, and a crash then reboots through the "
                        "capture kernel and writes a dump to /var/crash: keep room there.",
                   undo="rescuetui undo restores the edited files; remove an installed package "
                        "and `systemctl disable` the service with the target's own tools, and "
                        "take crashkernel= off the boot entries (grubby --remove-args on RHEL).")
    family = ctx.family
    if family is None:
        plan.blocked = "The distro family is not known, so neither is its kdump package."
        return plan
    if family.name not in KDUMP_INSTALL:
        plan.blocked = (f"{family.name} packages no kdump service: a capture kernel must be set up "
                        "by hand (kexec-tools, crashkernel= and a unit that runs kexec -p; see "
                        "the distribution's wiki on kdump).")
        return plan
    installed = any(ctx.files.exists(p) for p in KDUMP_INSTALLED[family.name])
    if not installed:
        install = KDUMP_INSTALL[family.name]
        plan.steps.append(Step(install))
        plan.risk += (f" Installing {install[-1]} needs the network inside the chroot (a working "
                      "/etc/resolv.conf and reachable repositories); without it the install "
                      "fails and no later step runs.")
    try:
        if family.name == "debian":
            _kdump_debian(ctx, plan, family, installed)
        elif family.name in GRUBBY_FAMILIES:
            _kdump_grubby(ctx, plan, family, installed)
        else:
            _kdump_grub_defaults(ctx, plan, family, installed)
    except CannotEdit as exc:
        plan.blocked = str(exc)
        plan.steps, plan.edits, plan.diff = [], [], ""
        return plan
    if not plan.steps and not plan.edits:
        plan.why = ("kdump is already configured: its package is installed and enabled, and "
                    "every boot entry reserves memory with crashkernel=. Nothing to change.")
    return plan


def _kdump_debian(ctx: TargetContext, plan: FixPlan, family: DistroFamily,
                  installed: bool) -> None:
    if not installed:
        # The package turns itself on (debconf's default writes USE_KDUMP=1) and adds
        # crashkernel= in its own /etc/default/grub.d drop-in; editing either before it is
        # installed would only make its configuration ask about a changed file.
        plan.why += (" Installing kdump-tools sets USE_KDUMP=1 in /etc/default/kdump-tools and "
                     f"adds {CRASHKERNEL['debian']} through "
                     f"{GRUB_DROPINS}/kdump-tools.cfg; plan this again afterwards to verify.")
        plan.files += [KDUMP_TOOLS, f"{GRUB_DROPINS}/kdump-tools.cfg"]
        _regenerate(plan, family)
        return
    before = _read(ctx, KDUMP_TOOLS)
    if shell_value(before or b"", "USE_KDUMP") != "1":
        _edit(plan, KDUMP_TOOLS, before, set_shell_value(before or b"", "USE_KDUMP", "1"),
              "kdump: USE_KDUMP=1")
    _kdump_grub_defaults(ctx, plan, family, installed)


def _kdump_grubby(ctx: TargetContext, plan: FixPlan, family: DistroFamily,
                  installed: bool) -> None:
    if not installed or not ctx.files.lstat(KDUMP_ENABLED) is not None:
        plan.steps.append(Step(["systemctl", "enable", "kdump.service"]))
    if not _on_every_entry(ctx, "crashkernel="):
        plan.steps.append(Step(["grubby", "--update-kernel=ALL",
                                f"--args={CRASHKERNEL[family.name]}"]))
        plan.files.append(ctx.target.bootloader_config or "/boot/loader/entries")


def _kdump_grub_defaults(ctx: TargetContext, plan: FixPlan, family: DistroFamily,
                         installed: bool) -> None:
    """crashkernel= through /etc/default/grub and a regenerated GRUB config (Debian, SUSE)."""
    if family.name != "debian" and (
            not installed or not ctx.files.lstat(KDUMP_ENABLED) is not None):
        plan.steps.append(Step(["systemctl", "enable", "kdump.service"]))
    grub = _read(ctx, DEFAULT_GRUB)
    if grub is None:
        raise CannotEdit(f"There is no {DEFAULT_GRUB} on the target to carry crashkernel=; "
                         "create it from the grub package's default first.")
    if not _grub_sets_crashkernel(ctx, grub):
        arg = CRASHKERNEL[family.name]
        cmdline = shell_value(grub, "GRUB_CMDLINE_LINUX") or ""
        _edit(plan, DEFAULT_GRUB, grub,
              set_shell_value(grub, "GRUB_CMDLINE_LINUX", with_crashkernel(cmdline, arg)),
              f"kdump: {arg}")
    if DEFAULT_GRUB in plan.files or not _on_every_entry(ctx, "crashkernel="):
        _regenerate(plan, family)


# -- verification: read back from the target -----------------------------------------------------

def _grub_terminal_is_serial(ctx: TargetContext, family: DistroFamily) -> tuple[bool, str]:
    """Whether GRUB's own menu goes to the serial port: grub.cfg's terminal_output where the
    generator wrote it; for grubby families (grub.cfg is not regenerated here) the setting in
    /etc/default/grub that the next grub2-mkconfig writes, said as such."""
    cfg = ctx.target.bootloader_config
    raw = ctx.files.read(cfg, READ_LIMIT << 2) if cfg and not ctx.files.is_dir(cfg) else None
    outputs = TERMINAL_LINE.findall(from_disk(raw)) if raw is not None else []
    if any("serial" in o.split() for o in outputs):
        return True, f"{cfg} sets GRUB's terminal to serial ({outputs[-1].strip()})"
    if family.name in GRUBBY_FAMILIES:
        grub = ctx.files.read(DEFAULT_GRUB, READ_LIMIT)
        terminal = shell_value(grub or b"", "GRUB_TERMINAL") or ""
        if "serial" in terminal.split():
            return True, (f"{DEFAULT_GRUB} sets GRUB_TERMINAL={terminal!r} (grub.cfg takes it "
                          "the next time grub2-mkconfig runs)")
        return False, f"neither {cfg} nor {DEFAULT_GRUB} sends GRUB's terminal to serial"
    return False, f"{cfg or 'grub.cfg'} has no terminal_output serial"


def verify_serial_console(ctx: TargetContext) -> Finding:
    """After serial-console: the default entry's kernel command line has console=ttyS0, and
    GRUB's terminal is serial."""
    family = ctx.family
    cmdline, which = default_command_line(ctx)
    if family is None or cmdline is None:
        return Finding(SERIAL, False, "unchecked", f"Could not check: {which}.")
    words = cmdline.split()
    console = [w for w in words if w.startswith("console=ttyS0")]
    if not console:
        return Finding(SERIAL, False, "no-console", f"The {which} boots without console=ttyS0: "
                       f"{cmdline[:200]}", data={"cmdline": cmdline})
    serial, how = _grub_terminal_is_serial(ctx, family)
    if not serial:
        return Finding(SERIAL, False, "grub-terminal", f"The kernel's console is on ttyS0, but "
                       f"{how}.", data={"cmdline": cmdline})
    return Finding(SERIAL, True, "ok", f"The {which} has {console[-1]}; {how}.",
                   data={"cmdline": cmdline})


def kdump_unit_enabled(ctx: TargetContext, unit: str) -> str | None:
    """The link that enables `unit` (/etc/systemd/system/*.wants/UNIT), None when none does."""
    for directory in ctx.files.entries(SYSTEMD_ETC):
        if directory.name.endswith(".wants") and directory.is_dir:
            link = f"{directory.path}/{unit}"
            if ctx.files.lstat(link) is not None:
                return link
    return None


def verify_kdump(ctx: TargetContext) -> Finding:
    """After kdump-enable: crashkernel= is on the default entry's kernel command line, the kdump
    package is installed and its service enabled (Debian: and USE_KDUMP=1)."""
    family = ctx.family
    cmdline, which = default_command_line(ctx)
    if family is None or family.name not in KDUMP_INSTALL or cmdline is None:
        return Finding(KDUMP, False, "unchecked", f"Could not check: {which}.")
    data = {"cmdline": cmdline}
    crash = [w for w in cmdline.split() if w.startswith("crashkernel=")]
    if not crash:
        return Finding(KDUMP, False, "no-crashkernel", f"The {which} reserves no crash kernel "
                       "memory (no crashkernel=).", data=data)
    if not any(ctx.files.exists(p) for p in KDUMP_INSTALLED[family.name]):
        return Finding(KDUMP, False, "not-installed", "The kdump package is not installed ("
                       f"none of {', '.join(KDUMP_INSTALLED[family.name])}).", data=data)
    unit = KDUMP_UNIT.get(family.name, "kdump.service")
    link = kdump_unit_enabled(ctx, unit)
    if link is None:
        return Finding(KDUMP, False, "not-enabled", f"{unit} is not enabled (no link to it in "
                       f"{SYSTEMD_ETC}/*.wants).", data=data)
    if family.name == "debian":
        use = shell_value(ctx.files.read(KDUMP_TOOLS, READ_LIMIT) or b"", "USE_KDUMP")
        if use != "1":
            return Finding(KDUMP, False, "not-enabled", f"{KDUMP_TOOLS} has USE_KDUMP={use}: "
                           "kdump-tools loads no capture kernel.", data=data)
    return Finding(KDUMP, True, "ok", f"The {which} has {crash[-1]}; {unit} is enabled ({link})"
                   + ("; USE_KDUMP=1." if family.name == "debian" else "."), data=data)
