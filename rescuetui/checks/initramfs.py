"""Check: the initramfs of the kernel to repair exists, lists completely, carries root's driver.

The image is listed on the host (core/initramfs_image.py): nothing from the disk runs."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath

from rescuetui.checks.base import Finding, TargetContext, unchecked
from rescuetui.core.diskdrivers import disk_driver_modules
from rescuetui.core.initramfs_builder import DRACUT, INITRAMFS_TOOLS
from rescuetui.core.initramfs_image import TOO_BIG, UNREADABLE, list_initramfs

CHECK = "initramfs"
MAX_CONFIG_BYTES = 64 << 10
MAX_ORDER_BYTES = 16 << 20
MODULE_FILE = re.compile(r"\.ko(\.[a-z0-9]+)?$")


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
    st = ctx.files.stat(path)
    if st is None or not stat.S_ISREG(st.st_mode):
        return Finding(CHECK, False, "missing", f"{path} does not exist: kernel {ctx.kernel} "
                       "boots without an initramfs and cannot mount root.", data=data)
    size = st.st_size
    builder = ctx.initramfs_builder
    if builder is None:
        return Finding(CHECK, False, "no-builder", f"{path} exists ({size} bytes), but the "
                       "target has no initramfs builder installed that can run (initramfs-tools, "
                       "dracut or mkinitcpio): nothing can rebuild the image. "
                       "Install the system's builder package in the chroot first.", data=data)
    data["builder"] = builder.name
    # Listed here, on the host: the target's own lister would run a program from the disk.
    listing = list_initramfs(ctx.files, path)
    if listing.status in (UNREADABLE, TOO_BIG):
        return unchecked(CHECK, f"{path} exists ({size} bytes), but {listing.problem}.")
    if not listing.complete or not listing.names:
        return Finding(CHECK, False, "truncated", f"{path} ({size} bytes) cannot be listed "
                       "completely: it is truncated or corrupt"
                       + (f" ({listing.problem})." if listing.problem else "."),
                       evidence=[listing.problem] if listing.problem else [], data=data)
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
    missing = _missing_modules(listing.names, [m for m, _ in needed])
    evidence = list(ctx.machine_evidence)
    if volume and not missing and not carries_lvm_tool(listing.names):
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
    files = [main] if ctx.files.is_file(main) else []
    files += [entry.path for entry in ctx.files.entries(directory)
              if entry.name.endswith(".conf") and entry.is_file]
    return files


def host_only_generator(ctx: TargetContext) -> list[str]:
    """Where the target's initramfs builder is set to take this machine's drivers only:
    initramfs-tools MODULES=dep, dracut hostonly=yes (the last setting read wins)."""
    found: list[str] = []
    builder = ctx.initramfs_builder
    if builder is INITRAMFS_TOOLS:
        for name in config_files(ctx, builder.config):
            if MODULES_DEP.search(ctx.files.read_text(name, MAX_CONFIG_BYTES) or ""):
                found.append(f"MODULES=dep in {name}")
    if builder is DRACUT:
        setting = None
        for name in config_files(ctx, builder.config):
            for value in HOSTONLY.findall(ctx.files.read_text(name, MAX_CONFIG_BYTES) or ""):
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


LVM_TOOL = re.compile(r"(^|/)s?bin/lvm$")


def carries_lvm_tool(names: list[str]) -> bool:
    """An image's listing has the lvm tool (sbin/lvm or usr/sbin/lvm), which activates volume
    groups at boot (dracut's lvm module and initramfs-tools' lvm2 hook put it there)."""
    return any(LVM_TOOL.search(name) for name in names)


def has_lvm_tool(ctx: TargetContext, path: str) -> bool:
    """The initramfs at `path` lists whole and carries the lvm tool."""
    listing = list_initramfs(ctx.files, path)
    return listing.complete and carries_lvm_tool(listing.names)


def _canonical(name: str) -> str:
    return name.replace("-", "_")


def _loadable(ctx: TargetContext, names: list[str]) -> list[str]:
    """Those of `names` that the kernel has as loadable modules (built-in ones need nothing,
    and a name the kernel does not know at all cannot be judged)."""
    order = ctx.files.read_text(f"/lib/modules/{ctx.kernel}/modules.order", MAX_ORDER_BYTES)
    if order is None:
        return []
    shipped = {_canonical(PurePosixPath(line).name.split(".ko")[0])
               for line in order.splitlines()}
    return [n for n in dict.fromkeys(_canonical(n) for n in names if n) if n in shipped]


def _missing_modules(listing: list[str], names: list[str]) -> list[str]:
    """Those of `names` (canonical module names) no .ko file of the listing is."""
    present = {_canonical(PurePosixPath(line).name.split(".ko")[0]) for line in listing
               if MODULE_FILE.search(line)}
    return [n for n in names if n not in present]
