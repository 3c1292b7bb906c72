"""Check: the kernel command line of the default boot entry, and of what regenerates it
(GRUB_CMDLINE_LINUX*, BLS options, grubenv kernelopts, /etc/kernel/cmdline), boots the system
normally: init= is the system's own init, nothing stops the boot (rd.break, single, emergency,
systemd.unit=rescue.target), one root=, no blacklisted root driver, rd.lvm.lv= volumes exist."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.bootloader import main_config
from rescuetui.checks.default_kernel import default_entry, resolve
from rescuetui.core.cmdline import Offence, judge, split_cmdline
from rescuetui.core.grubmenu import MenuEntry, grub_menu_entries
from rescuetui.core.target import DM_NAME
from rescuetui.core.text import from_disk, printable

CHECK = "kernel-cmdline"
DEFAULT_GRUB = "/etc/default/grub"
KERNEL_CMDLINE = "/etc/kernel/cmdline"
GRUB_VARIABLES = ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT")
ASSIGNMENT = re.compile(r'^(\s*(GRUB_CMDLINE_LINUX(?:_DEFAULT)?)=)("([^"]*)"|\'([^\']*)\'|(\S*))',
                        re.M)
MAX_BYTES = 4 << 20


@dataclass(frozen=True)
class CmdlineSource:
    """One place a kernel command line is kept: the file and what in it."""

    path: str
    where: str  # "default entry 'Debian GNU/Linux'", "GRUB_CMDLINE_LINUX", "options", ...
    params: str


def default_grub_entry(ctx: TargetContext, text: str) -> MenuEntry | None:
    entries = grub_menu_entries(text)
    if not entries:
        return None
    chain = ctx.target.boot_chain
    value = default_entry(text, chain.grubenv if chain else {}) or "0"
    return resolve(value, entries) or entries[0]


def command_line_sources(ctx: TargetContext) -> list[CmdlineSource]:
    sources: list[CmdlineSource] = []
    config = main_config(ctx)
    found = ctx.files.read(config, MAX_BYTES) if config else None
    if config and found is not None:
        text = from_disk(found)
        entry = default_grub_entry(ctx, text)
        if entry is not None:
            sources.append(CmdlineSource(config, f"default entry '{entry.title_path}'",
                                         entry.params))
    defaults = ctx.files.read(DEFAULT_GRUB, MAX_BYTES)
    if defaults is not None:
        for match in ASSIGNMENT.finditer(from_disk(defaults)):
            value = next((g for g in match.groups()[3:] if g is not None), "")
            sources.append(CmdlineSource(DEFAULT_GRUB, match.group(2), value))
    chain = ctx.target.boot_chain
    if chain:
        for bls in chain.bls:
            if "rescue" not in bls.file:
                sources.append(CmdlineSource(bls.file, "options", bls.options))
        if "kernelopts" in chain.grubenv and chain.grub_dir:
            sources.append(CmdlineSource(f"{chain.grub_dir}/grubenv", "kernelopts",
                                         chain.grubenv["kernelopts"]))
    whole = ctx.files.read(KERNEL_CMDLINE, 65536)
    if whole is not None:
        sources.append(CmdlineSource(KERNEL_CMDLINE, "the whole file", from_disk(whole)))
    return sources


def initramfs_falls_back(ctx: TargetContext) -> bool:
    """initramfs-tools boots /sbin/init when init= names nothing; dracut stops."""
    builder = ctx.initramfs_builder
    return builder is not None and builder.name == "initramfs-tools"


def root_drivers(ctx: TargetContext) -> set[str]:
    drivers = {(ctx.target.fstype or "").replace("-", "_")} - {""}
    drivers |= set(ctx.machine_drivers)
    return drivers


def logical_volumes(ctx: TargetContext) -> set[str] | None:
    """VG/LV names the system has (its fstab's and root's), or None when root is not on LVM."""
    names = set()
    for spec in ctx.target.root_specs + [r.entry.spec for r in ctx.target.fstab if r.device]:
        parts = spec.split("/")
        if spec.startswith("/dev/mapper/"):
            match = DM_NAME.match(spec.removeprefix("/dev/mapper/"))
            if match:
                vg, lv = (part.replace("--", "-") for part in match.groups())
                names.add(f"{vg}/{lv}")
        elif len(parts) == 4 and parts[1] == "dev" and parts[2] != "disk":
            names.add(f"{parts[2]}/{parts[3]}")
    return names or None


def check_kernel_cmdline(ctx: TargetContext) -> Finding:
    sources = command_line_sources(ctx)
    if not sources:
        return Finding(CHECK, True, "ok", "No kernel command line found to check (no GRUB "
                       "entry, /etc/default/grub, BLS entry or /etc/kernel/cmdline).")
    falls_back = initramfs_falls_back(ctx)
    drivers = root_drivers(ctx)
    volumes = logical_volumes(ctx)
    found: list[tuple[CmdlineSource, Offence]] = []
    for source in sources:
        params = split_cmdline(source.params)
        inits = {p.value: ctx.files.exists(p.value) for p in params
                 if p.key == "init" and p.value and p.value.startswith("/")}
        for offence in judge(params, init_exists=inits, init_falls_back=falls_back,
                             root_drivers=drivers, volumes=volumes):
            found.append((source, offence))
    if not found:
        shown = sources[0]
        return Finding(CHECK, True, "ok", f"The kernel command line boots normally "
                       f"({shown.path}, {printable(shown.where)}: {printable(shown.params)}).",
                       data={"sources": [s.path for s in sources]})
    kinds = [o.kind for _, o in found]
    finding = next(k for k in ("bad-init", "stops-boot", "blacklists-root-driver",
                               "duplicate-root", "lvm-missing") if k in kinds)
    evidence = [f"{s.path} ({printable(s.where)}): {printable(o.why)}" for s, o in found]
    return Finding(CHECK, False, finding, evidence[0] + (
        f"; and {len(found) - 1} more" if len(found) > 1 else ""), evidence=evidence,
        data={"offences": [{"path": s.path, "where": s.where, "param": o.param, "kind": o.kind}
                           for s, o in found]})
