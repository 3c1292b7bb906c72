"""Kernel command lines as boot loaders keep them: split into parameters, judged, and edited
without touching anything else on the line."""

from __future__ import annotations

import re
from dataclasses import dataclass

# One parameter: name[=value], the value possibly quoted ("a b"), as the kernel splits them.
PARAM = re.compile(r'(?:[^\s"]|"[^"]*")+')
SHELLS = frozenset({"/bin/sh", "/bin/bash", "/usr/bin/bash", "/usr/bin/sh", "/bin/dash",
                    "/usr/bin/dash", "/bin/zsh", "/bin/busybox", "/sysroot/bin/sh"})
# Parameters that stop a normal boot on purpose: left behind after a rescue, they keep the
# system from ever reaching its login.
STOPPERS = {
    "single": "boots to single-user (rescue) mode",
    "s": "boots to single-user (rescue) mode",
    "S": "boots to single-user (rescue) mode",
    "1": "boots to runlevel 1 (rescue mode)",
    "emergency": "boots to systemd's emergency shell",
    "-b": "boots to systemd's emergency shell",
    "rescue": "boots to systemd's rescue mode",
    "rd.break": "stops in the initramfs before root is switched to (dracut)",
    "rd.shell": "drops to a shell in the initramfs on any failure (dracut)",
    "break": "stops in the initramfs (initramfs-tools break=)",
    "rd.emergency": "drops to the initramfs emergency shell (dracut)",
    "init=/bin/false": "makes init exit at once",
}
STOPPING_UNITS = frozenset({"rescue.target", "emergency.target", "rescue", "emergency"})
BLACKLIST_KEYS = ("modprobe.blacklist", "rd.driver.blacklist", "module_blacklist")


@dataclass(frozen=True)
class Param:
    text: str  # as written, quotes included

    @property
    def key(self) -> str:
        return self.text.split("=", 1)[0]

    @property
    def value(self) -> str | None:
        if "=" not in self.text:
            return None
        return self.text.split("=", 1)[1].strip('"')


def split_cmdline(line: str) -> list[Param]:
    return [Param(m.group(0)) for m in PARAM.finditer(line)]


@dataclass(frozen=True)
class Offence:
    """A parameter that keeps the system from booting normally, and why."""

    param: str  # the text to remove
    kind: str  # bad-init, stops-boot, duplicate-root, blacklists-root-driver, lvm-missing
    why: str


def judge(params: list[Param], *, init_exists: dict[str, bool], init_falls_back: bool,
          root_drivers: set[str], volumes: set[str] | None) -> list[Offence]:
    """What is wrong with a command line for a normal boot to the login prompt.

    `init_exists` maps an init= path to whether it exists on the target; `init_falls_back` is
    True where the initramfs boots /sbin/init when init= names nothing (Debian's initramfs-tools
    does; dracut does not). `root_drivers` are the modules root's disk and filesystem need;
    `volumes` the VG/LV names that exist (None: unknown, so rd.lvm.lv= is not judged).
    """
    found: list[Offence] = []
    roots = [p for p in params if p.key == "root"]
    for extra in roots[1:]:
        found.append(Offence(extra.text, "duplicate-root",
                             f"a second root= ({extra.text}); the kernel takes the last one"))
    for p in params:
        value = p.value or ""
        if p.key == "init" and value:
            if value in SHELLS:
                found.append(Offence(p.text, "bad-init",
                                     f"{p.text} starts a bare shell instead of the system's init "
                                     "(left from a root password reset?): no service starts and "
                                     "no login appears"))
            elif not init_exists.get(value, True) and not init_falls_back:
                found.append(Offence(p.text, "bad-init",
                                     f"{p.text} names a program the system does not have"))
            elif value == "/bin/false":
                found.append(Offence(p.text, "bad-init", STOPPERS["init=/bin/false"]))
        elif p.value is None and p.key in STOPPERS:
            found.append(Offence(p.text, "stops-boot", f"{p.text} {STOPPERS[p.key]}"))
        elif p.key in ("rd.break", "break") and p.value is not None:
            found.append(Offence(p.text, "stops-boot", f"{p.text} {STOPPERS[p.key]}"))
        elif p.key in ("systemd.unit", "rd.systemd.unit") and value in STOPPING_UNITS:
            found.append(Offence(p.text, "stops-boot", f"{p.text} boots to {value}, not to the "
                                 "system's normal target"))
        elif p.key in BLACKLIST_KEYS:
            named = {n.strip().replace("-", "_") for n in value.split(",") if n.strip()}
            hit = sorted(named & root_drivers)
            if hit:
                found.append(Offence(p.text, "blacklists-root-driver",
                                     f"{p.text} keeps {', '.join(hit)} from loading, which the "
                                     "root filesystem or its disk needs"))
        elif p.key == "rd.lvm.lv" and volumes is not None and value and value not in volumes:
            found.append(Offence(p.text, "lvm-missing",
                                 f"{p.text} names a logical volume the disk does not have; the "
                                 "initramfs waits for it and times out"))
    return found


def without(params_text: str, drop: set[str]) -> str:
    """A parameter string with the given parameters removed, the rest kept in order (for a
    duplicate root=, every root= after the first goes). Parameters are joined by one space."""
    kept: list[str] = []
    seen_root = False
    for p in split_cmdline(params_text):
        if p.key == "root":
            if seen_root and (p.text in drop or any(d.startswith("root=") for d in drop)):
                continue
            seen_root = True
            kept.append(p.text)
            continue
        if p.text not in drop:
            kept.append(p.text)
    return " ".join(kept)
