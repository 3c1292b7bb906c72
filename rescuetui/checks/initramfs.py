"""Check: the initramfs of the kernel to repair exists, lists completely, carries root's driver."""

from __future__ import annotations

import os
import re
from pathlib import Path

from rescuetui.checks.base import Finding, TargetContext, unchecked
from rescuetui.core.diskdrivers import disk_driver_modules
from rescuetui.core.initramfs_builder import DRACUT, INITRAMFS_TOOLS, InitramfsBuilder
from rescuetui.core.text import ascii_number

CHECK = "initramfs"


def initramfs_path(ctx: TargetContext) -> str:
    """Where the boot loader looks for this kernel's initramfs (per family; Arch by package)."""
    known = next((k.initramfs for k in ctx.target.kernels if k.version == ctx.kernel), None)
    if known:
        return known
    family = ctx.family
    return "/boot/" + (family.initramfs_name(ctx.kernel) if family else f"initrd.img-{ctx.kernel}")


def check_initramfs(ctx: TargetContext) -> Finding:
    path = initramfs_path(ctx)
    data: dict[str, object] = {"path": path, "kernel": ctx.kernel}
    host = ctx.path(path)
    if not host.is_file():
        return Finding(CHECK, False, "missing", f"{path} does not exist: kernel {ctx.kernel} "
                       "boots without an initramfs and cannot mount root.", data=data)
    size = host.stat().st_size
    builder = ctx.initramfs_builder
    if builder is None:
        return Finding(CHECK, False, "no-builder", f"{path} exists ({size} bytes), but the "
                       "target has no initramfs builder installed that can run (initramfs-tools, "
                       "dracut or mkinitcpio): nothing can list the image or rebuild it. "
                       "Install the system's builder package in the chroot first.", data=data)
    data["builder"] = builder.name
    lister = builder.lister
    if not ctx.path(lister).exists():
        return unchecked(CHECK, f"{path} exists ({size} bytes); {builder.name} is installed "
                         f"but its lister {lister} is missing, so the image was not looked into.")
    listing = ctx.chroot(*_list_command(builder, path))
    if not listing.ok and not ctx.chroot_works():
        return unchecked(CHECK, "nothing runs in the target's chroot to list the initramfs.")
    if not listing.ok or not listing.tail:
        return Finding(CHECK, False, "truncated", f"{path} ({size} bytes) cannot be listed "
                       "completely: it is truncated or corrupt.", evidence=listing.tail[-5:],
                       data=data)
    needed = [(m, "the root filesystem") for m in _loadable(ctx, [ctx.target.fstype or ""])]
    if ctx.machine_drivers:
        needed += [(m, "the disk of the machine it boots on") for m in
                   _loadable(ctx, ctx.machine_drivers)]
    elif not ctx.target.disk.startswith("/dev/loop"):
        # No evidence of the machine it boots on: the disk as attached here is the best
        # guess (a live USB on the machine itself); a loop device says nothing.
        needed += [(m, f"the disk root is on, as attached here ({ctx.target.disk})")
                   for m in _loadable(ctx, disk_driver_modules(ctx.target.disk))]
    volume = root_logical_volume(ctx.target.device)
    if volume:
        needed += [(m, f"the logical volume root is on ({volume})")
                   for m in _loadable(ctx, ["dm_mod"])]
    host_only = host_only_generator(ctx)
    if host_only:
        data["host_only"] = host_only
    missing = _missing_modules(ctx, lister, path, [m for m, _ in needed])
    evidence = list(ctx.machine_evidence)
    if volume and not missing and not has_lvm_tool(ctx, lister, path):
        data["volume"] = volume
        return Finding(CHECK, False, "lacks-lvm", f"{path} has no lvm tool, so nothing in it can "
                       f"activate the volume group root is on ({volume}): the boot waits for "
                       "the root device and gives up. Rebuilt with lvm2 installed in the "
                       "system, the builder takes lvm in.", evidence=evidence, data=data)
    if missing:
        why = "; ".join(f"{m} (for {what})" for m, what in needed if m in missing)
        data["modules"] = missing
        return Finding(CHECK, False, "lacks-driver", f"{path} lacks {', '.join(missing)}, so it "
                       f"cannot reach the root filesystem: {why}."
                       + (f" The builder is set to {host_only[0]}." if host_only else ""),
                       evidence=evidence + host_only, data=data)
    if host_only:
        return Finding(CHECK, False, "host-only", f"{host_only[0]}: the initramfs is built with "
                       "the drivers of the machine it is built on only; rebuilt on a rescue host "
                       "or moved to another VM it lacks the disk driver.", evidence=host_only,
                       data=data)
    has = [m for m, _ in needed] + (["the lvm tool"] if volume else [])
    return Finding(CHECK, True, "ok", f"{path} ({size} bytes) lists completely"
                   + (f" and has {', '.join(has)}." if has else ".")
                   + ("" if ctx.machine_drivers or any(w != "the root filesystem" for _, w in needed)
                      else
                      " No evidence named the boot machine's disk drivers (give its console "
                      "log with --log): they were not checked."),
                   evidence=evidence, data=data)


MODULES_DEP = re.compile(r"^\s*MODULES\s*=\s*[\"']?dep[\"']?\s*$", re.M)
HOSTONLY = re.compile(r"^\s*hostonly\s*=\s*[\"']?(yes|no)[\"']?", re.M)


def config_files(ctx: TargetContext, places: tuple[str, str]) -> list[str]:
    main, directory = places
    files = [main] if ctx.path(main).is_file() else []
    host = ctx.path(directory)
    if host.is_dir():
        files += sorted(f"{directory}/{p.name}" for p in host.iterdir()
                        if p.name.endswith(".conf") and p.is_file() and not p.is_symlink())
    return files


def host_only_generator(ctx: TargetContext) -> list[str]:
    """Where the target's initramfs builder is set to take this machine's drivers only:
    initramfs-tools MODULES=dep, dracut hostonly=yes (the last setting read wins)."""
    found: list[str] = []
    builder = ctx.initramfs_builder
    if builder is INITRAMFS_TOOLS:
        for name in config_files(ctx, builder.config):
            if MODULES_DEP.search(ctx.path(name).read_text(errors="replace")[:65536]):
                found.append(f"MODULES=dep in {name}")
    if builder is DRACUT:
        setting = None
        for name in config_files(ctx, builder.config):
            for value in HOSTONLY.findall(ctx.path(name).read_text(errors="replace")[:65536]):
                setting = (value, name)
        if setting and setting[0] == "yes":
            found.append(f'hostonly="yes" in {setting[1]}')
    return found


def root_logical_volume(device: str) -> str | None:
    """The device-mapper name of `device` (the mounted root's device on the rescue host) when
    it is an LVM logical volume: device-mapper's own record in sysfs says so (its uuid begins
    with LVM-; a LUKS mapping's with CRYPT-). None for anything else."""
    dm = Path("/sys/block") / os.path.basename(os.path.realpath(device)) / "dm"
    try:
        if not (dm / "uuid").read_text().startswith("LVM-"):
            return None
        return (dm / "name").read_text().strip() or None
    except OSError:
        return None


def has_lvm_tool(ctx: TargetContext, lister: str, path: str) -> bool:
    """The initramfs at `path` carries the lvm tool (sbin/lvm or usr/sbin/lvm), which activates
    volume groups at boot (dracut's lvm module and initramfs-tools' lvm2 hook put it there)."""
    found = ctx.chroot("sh", "-c", 'TMPDIR=/run "$0" "$1" | grep -c -E "$2"', lister, path,
                       r"(^|[ /])s?bin/lvm$")
    return any((ascii_number(line.strip()) or 0) > 0 for line in found.tail)


def _list_command(builder: InitramfsBuilder, path: str) -> list[str]:
    """lsinitrd needs a writable temporary directory, and the target is mounted read-only for
    checks: /run is the chroot's own tmpfs. A cut-off image makes it exit non-zero."""
    return ["env", "TMPDIR=/run", builder.lister, path]


def _canonical(name: str) -> str:
    return name.replace("-", "_")


def _loadable(ctx: TargetContext, names: list[str]) -> list[str]:
    """Those of `names` that the kernel has as loadable modules (built-in ones need nothing,
    and a name the kernel does not know at all cannot be judged)."""
    order = ctx.path(f"/lib/modules/{ctx.kernel}/modules.order")
    if not order.is_file():
        return []
    shipped = {_canonical(Path(line).name.split(".ko")[0])
               for line in order.read_text(errors="replace").splitlines()}
    return [n for n in dict.fromkeys(_canonical(n) for n in names if n) if n in shipped]


def _missing_modules(ctx: TargetContext, lister: str, path: str, names: list[str]) -> list[str]:
    if not names:
        return []
    # One listing, filtered in the chroot: module file names use - and _ alike.
    pattern = "/(" + "|".join(n.replace("_", "[-_]") for n in names) + r")\.ko(\.[a-z]+)?$"
    found = ctx.chroot("sh", "-c", 'TMPDIR=/run "$0" "$1" | grep -o -E "$2"', lister, path,
                       pattern)
    present = {_canonical(Path(line).name.split(".ko")[0]) for line in found.tail}
    return [n for n in names if n not in present]
