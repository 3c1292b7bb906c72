"""Fix: keep a kernel module that the diagnosis blames for a crash from loading.

A `blacklist` line stops modprobe loading the module by its aliases (hardware detection);
`install NAME /bin/false` also stops it being loaded by name or as another module's dependency.
The initramfs carries its own copy of /etc/modprobe.d and may load the module itself, so it is
rebuilt; initramfs-tools copies every module /etc/initramfs-tools/modules names into it
whatever modprobe.d says, so the module's line there is commented out first. systemd-modules-load
(modules-load.d, /etc/modules) loads through libkmod with the blacklist applied, and a
service's `modprobe NAME` runs the install command (/bin/false), so the blacklist keeps it out
there too. A module the root filesystem or its disk needs is refused: the
system would not find its root at all."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.initramfs_builder import DRACUT
from rescuetui.core.initramfs_image import list_initramfs
from rescuetui.core.session import SYSTEM_MOUNTS
from rescuetui.core.text import from_disk, printable
from rescuetui.fixes.base import FileEdit, FixPlan, Step, read_for_edit, unified_diff

FIX = "module-blacklist"
CONF = "/etc/modprobe.d/rescuetui-blacklist.conf"
HEADER = ("# Written by rescuetui (boot repair): kernel modules blamed for a crash, kept from loading.\n"
          "# To allow one again, delete its lines here and rebuild the initramfs.\n")
# Not starting with - or _: such a name is a typo or an attack, never a module.
MODULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Drivers of the disk that holds the root filesystem, on the machines rescuetui meets (cloud VMs,
# virtio, NVMe, SATA, SCSI), and the layers between them and the filesystem.
STORAGE_DRIVERS = frozenset({
    "virtio_blk", "virtio_scsi", "virtio_pci", "nvme", "nvme_core", "ahci", "libahci", "libata",
    "sd_mod", "scsi_mod", "hv_storvsc", "hv_vmbus", "xen_blkfront", "dm_mod", "md_mod",
})


INITRAMFS_TOOLS_MODULES = "/etc/initramfs-tools/modules"
# Where boot is told to load modules by name: systemd-modules-load's directories and files, and
# initramfs-tools' list.
LOAD_DIRS = ("/etc/modules-load.d", "/run/modules-load.d", "/usr/local/lib/modules-load.d",
             "/usr/lib/modules-load.d", "/lib/modules-load.d")
LOAD_FILES = ("/etc/modules", INITRAMFS_TOOLS_MODULES)
UNITS = "/etc/systemd/system"
UNIT_DIRS = (UNITS, "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
LOADERS = ("modprobe", "insmod")
DRACUT_OMIT = "/etc/dracut.conf.d/90-rescuetui-blacklist.conf"
MAX_LIST_BYTES = 1 << 20  # a module list; modules.dep is read up to MAX_DEP_BYTES
MAX_DEP_BYTES = 16 << 20


def canonical(name: str) -> str:
    """Module names treat - and _ alike; the kernel shows them with _."""
    return name.replace("-", "_")


def needed_for_root(ctx: TargetContext) -> dict[str, str]:
    """Modules the system cannot mount its own filesystems without, each with the reason."""
    needed = {name: "a storage driver the root disk may need" for name in STORAGE_DRIVERS}
    for entry in ctx.target.fstab:
        fs = entry.entry
        if fs.mountpoint in SYSTEM_MOUNTS | {"/"} and fs.kind == "filesystem":
            needed[canonical(fs.fstype)] = f"the driver of the {fs.mountpoint} filesystem"
    if ctx.target.fstype:
        needed[canonical(ctx.target.fstype)] = "the driver of the root filesystem"
        if ctx.target.fstype in ("ext2", "ext3"):
            needed["ext4"] = "the driver of the root filesystem (ext4 mounts ext2 and ext3)"
    return needed


def blacklist_lines(module: str) -> list[str]:
    return [f"blacklist {module}", f"install {module} /bin/false"]


def add_blacklist(text: bytes, module: str, why: str) -> bytes:
    """`text` (the file, b"" if new) with the module's lines appended unless already there."""
    have = {(words[0], canonical(words[1])) for words in
            (line.split() for line in from_disk(text).splitlines()) if len(words) >= 2}
    missing = [line for line in blacklist_lines(module)
               if (line.split()[0], module) not in have]
    if not missing:
        return text
    body = from_disk(text)
    if body and not body.endswith("\n"):
        body += "\n"
    body = (body or HEADER) + f"# {module}: {why}\n" + "".join(line + "\n" for line in missing)
    return body.encode("utf-8", "surrogateescape")


def builtin_modules(ctx: TargetContext, kernel: str) -> set[str]:
    """Modules compiled into `kernel`: no modprobe configuration can keep them out."""
    found = ctx.files.read(f"/lib/modules/{kernel}/modules.builtin", MAX_DEP_BYTES)
    if found is None:
        return set()
    names = (line.rsplit("/", 1)[-1].removesuffix(".ko") for line in from_disk(found).split())
    return {canonical(n) for n in names}


def plan_module_blacklist(ctx: TargetContext, finding: Finding) -> FixPlan:
    raw = str(finding.data.get("module", ""))
    kernel_version = str(finding.data.get("kernel") or ctx.kernel)
    plan = FixPlan(FIX, why=finding.summary, risk="", files=[CONF])
    if not MODULE_NAME.fullmatch(raw):
        plan.blocked = (f"{printable(raw)!r} is not a kernel module name (letters, digits, - and _, "
                        "at most 64): nothing is blacklisted. Check the module named in the panic "
                        "text.")
        return plan
    module = canonical(raw)
    plan.risk = (f"Medium: whatever {module} drives (a device, a filesystem, a feature) stops "
                 "working until the blacklist is removed. For one boot only, without this change: "
                 f"add modprobe.blacklist={module} to the kernel command line in the boot menu "
                 "(press e on the entry).")
    plan.undo = (f"rescuetui undo restores {CONF} (or removes it); then rebuild the initramfs "
                 "again so that it no longer carries the blacklist.")
    needed = needed_for_root(ctx)
    if module in needed:
        plan.blocked = (f"{module} is {needed[module]}: blacklisted, the system could not mount its "
                        "own filesystems and would not boot at all. Boot the previous kernel "
                        "instead (fix previous-kernel), or update the kernel.")
        return plan
    builder = ctx.initramfs_builder
    if builder is None:
        plan.blocked = ("The target has no initramfs builder installed that can run (initramfs-"
                        "tools, dracut or mkinitcpio), so the initramfs, which may load the "
                        "module itself, cannot be rebuilt without it.")
        return plan
    kernel = next((k for k in ctx.target.kernels if k.version == kernel_version), None)
    if kernel is None:
        plan.blocked = (f"Kernel {printable(kernel_version)} is not installed on the target (no "
                        "/boot image or /lib/modules directory), so its initramfs cannot be rebuilt.")
        return plan
    if module in builtin_modules(ctx, kernel.version):
        plan.blocked = (f"{module} is built into kernel {kernel.version} (modules.builtin), so a "
                        "blacklist cannot keep it out. Boot the previous kernel instead (fix "
                        "previous-kernel).")
        return plan
    before = read_for_edit(ctx.files, CONF) or b""
    after = add_blacklist(before, module, f"blamed for the crash of kernel {kernel.version}")
    if after != before:
        plan.edits.append(FileEdit(CONF, f"blacklist kernel module {module}", content=after))
        plan.diff = unified_diff(CONF, before, after)
    text = read_for_edit(ctx.files, INITRAMFS_TOOLS_MODULES)
    if text is not None:
        kept_out = comment_out(text, module, f"rescuetui: blamed for the crash of kernel "
                                             f"{kernel.version}")
        if kept_out != text:
            plan.files.append(INITRAMFS_TOOLS_MODULES)
            plan.edits.append(FileEdit(INITRAMFS_TOOLS_MODULES,
                                       f"keep {module} out of the initramfs", content=kept_out))
            plan.diff += unified_diff(INITRAMFS_TOOLS_MODULES, text, kept_out)
    if builder is DRACUT:
        _omit_from_dracut(ctx, plan, module, kernel.version)
    plan.data.update(module=module, kernel=kernel.version)
    plan.files.append(kernel.initramfs)
    plan.steps = [Step(argv) for argv in
                  builder.rebuild(kernel.version, kernel.initramfs,
                                  exists=kernel.initramfs_size is not None)]
    return plan


def _omit_from_dracut(ctx: TargetContext, plan: FixPlan, module: str, kernel: str) -> None:
    """A generic dracut image carries every module of the kernel: omit_drivers keeps this one
    out of it (and of every later rebuild)."""
    line = f'omit_drivers+=" {module} "'
    before = read_for_edit(ctx.files, DRACUT_OMIT) or b""
    text = from_disk(before)
    if line in text.splitlines():
        return
    after = ((text if not text or text.endswith("\n") else text + "\n")
             + f"# rescuetui: blamed for the crash of kernel {kernel}\n{line}\n").encode(
                 "utf-8", "surrogateescape")
    plan.files.append(DRACUT_OMIT)
    plan.edits.append(FileEdit(DRACUT_OMIT, f"keep {module} out of dracut's images",
                               content=after, mode=0o644, make_parents=True))
    plan.diff += unified_diff(DRACUT_OMIT, before, after)


def _read(ctx: TargetContext, path: str, limit: int) -> str:
    found = ctx.files.read(path, limit)
    return from_disk(found) if found is not None else ""


def _names(text: str) -> list[tuple[int, str]]:
    """(line index, module) of each line that loads a module (comments: # and ;)."""
    found = []
    for n, line in enumerate(text.split("\n")):
        words = line.split()
        if words and not words[0].startswith(("#", ";")):
            found.append((n, canonical(words[0])))
    return found


def module_path(ctx: TargetContext, kernel: str, module: str) -> str | None:
    """Where `kernel`'s modules.dep has `module`, relative to /lib/modules/KERNEL
    ("updates/acme.ko", "kernel/fs/ext4/ext4.ko.xz"); None when that kernel has no such module."""
    for line in _read(ctx, f"/lib/modules/{kernel}/modules.dep", MAX_DEP_BYTES).splitlines():
        path = line.split(":", 1)[0].strip()
        if path and canonical(PurePosixPath(path).name.split(".ko")[0]) == module:
            return path
    return None


def in_tree(path: str) -> bool:
    """A module the kernel package ships (under kernel/), not one added later (updates/, extra/,
    dkms/, weak-updates/)."""
    return path.startswith("kernel/")


def boot_loaders(ctx: TargetContext, module: str) -> list[str]:
    """The files that have boot load `module` by name."""
    files = list(LOAD_FILES)
    for directory in LOAD_DIRS:
        files += ctx.files.glob(directory, "*.conf")
    listed = [f for f in dict.fromkeys(files)
              if any(name == module for _, name in _names(_read(ctx, f, MAX_LIST_BYTES)))]
    return listed + _enabled_units_loading(ctx, module)


def _enabled_units_loading(ctx: TargetContext, module: str) -> list[str]:
    """Enabled services (linked from /etc/systemd/system/*.wants/) whose Exec lines run
    modprobe or insmod on `module`: vendor agents load their module that way."""
    enabled = sorted({name for d in ctx.files.entries(UNITS)
                      if d.name.endswith(".wants") and d.is_dir  # lstat's: not a link
                      for name in ctx.files.listdir(d.path) if name.endswith(".service")})
    found = []
    for name in enabled:
        unit = next((f"{d}/{name}" for d in UNIT_DIRS if ctx.files.is_file(f"{d}/{name}")), None)
        if unit and any(_execs_loader(line, module) for line in
                        _read(ctx, unit, MAX_LIST_BYTES).splitlines()):
            found.append(unit)
    return found


def _execs_loader(line: str, module: str) -> bool:
    key, _, command = line.strip().partition("=")
    if not key.startswith("Exec"):
        return False
    words = command.split()
    tools = [n for n, w in enumerate(words) if PurePosixPath(w.lstrip("-@:+!")).name in LOADERS]
    return any(canonical(PurePosixPath(w).name.split(".ko")[0]) == module
               for n in tools for w in words[n + 1:] if not w.startswith("-"))


def comment_out(text: bytes, module: str, why: str) -> bytes:
    """`text` (a module list) with each line that loads `module` commented out, saying why."""
    lines = from_disk(text).split("\n")
    for n, name in _names("\n".join(lines)):
        if name == module:
            lines[n] = f"# {why}: {lines[n]}"
    return "\n".join(lines).encode("utf-8", "surrogateescape")


def verify_module_blacklist(ctx: TargetContext, module: str, kernel: str) -> Finding:
    """After the fix: the blacklist is in place, no initramfs list names the module, and
    `kernel`'s initramfs no longer carries it (its own listing)."""
    data: dict[str, object] = {"module": module, "kernel": kernel}
    conf = {(w[0], canonical(w[1])) for w in (ln.split() for ln in
            _read(ctx, CONF, MAX_LIST_BYTES).splitlines()) if len(w) >= 2}
    missing = [line for line in blacklist_lines(module) if (line.split()[0], module) not in conf]
    if missing:
        return Finding(FIX, False, "not-blacklisted", f"{CONF} lacks {'; '.join(missing)}.",
                       data=data)
    if module in dict(_names(_read(ctx, INITRAMFS_TOOLS_MODULES, MAX_LIST_BYTES))).values():
        return Finding(FIX, False, "still-listed",
                       f"{INITRAMFS_TOOLS_MODULES} still loads {module} in the initramfs.", data=data)
    image = next((k.initramfs for k in ctx.target.kernels if k.version == kernel), None)
    if image is None:
        return Finding(FIX, False, "no-image", f"{module} is blacklisted in {CONF}, but {kernel} "
                       "has no initramfs to check: the rebuild left none.", data=data)
    listing = list_initramfs(ctx.files, image)  # on the host: nothing from the disk runs
    if not listing.complete:
        return Finding(FIX, False, "unlisted", f"{image} cannot be listed ({listing.problem}): "
                       "the rebuilt initramfs cannot be checked.", evidence=[listing.problem],
                       data=data)
    pattern = re.compile("/" + module.replace("_", "[-_]") + r"\.ko(\.[a-z0-9]+)?$")
    carried = [name for name in listing.names if pattern.search("/" + name)]
    if carried:
        return Finding(FIX, False, "in-initramfs", f"{image} still carries {module}: "
                       f"{carried[0]}.", evidence=carried[:5], data=data)
    return Finding(FIX, True, "ok", f"{module} is blacklisted in {CONF} (blacklist and install "
                   f"/bin/false), no initramfs list names it, and {image} does not carry it.",
                   data=data)
