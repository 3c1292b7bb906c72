"""Fix: keep a kernel module that the diagnosis blames for a crash from loading.

A `blacklist` line stops modprobe loading the module by its aliases (hardware detection);
`install NAME /bin/false` also stops it being loaded by name or as another module's dependency.
The initramfs carries its own copy of /etc/modprobe.d and may load the module itself, so it is
rebuilt. A module the root filesystem or its disk needs is refused: the system would not find
its root at all."""

from __future__ import annotations

import re

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.session import SYSTEM_MOUNTS
from rescuetui.core.text import from_disk, printable
from rescuetui.fixes.base import FileEdit, FixPlan, Step, unified_diff

FIX = "module-blacklist"
CONF = "/etc/modprobe.d/rescuetui-blacklist.conf"
HEADER = ("# Written by rescuetui (boot repair): kernel modules blamed for a crash, kept from loading.\n"
          "# To allow one again, delete its lines here and rebuild the initramfs.\n")
# Not starting with - or _: such a name is a typo or an attack, never a module.
_MODULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Drivers of the disk that holds the root filesystem, on the machines rescuetui meets (cloud VMs,
# virtio, NVMe, SATA, SCSI), and the layers between them and the filesystem.
STORAGE_DRIVERS = frozenset({
    "virtio_blk", "virtio_scsi", "virtio_pci", "nvme", "nvme_core", "ahci", "libahci", "libata",
    "sd_mod", "scsi_mod", "hv_storvsc", "hv_vmbus", "xen_blkfront", "dm_mod", "md_mod",
})


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
    path = ctx.path(f"/lib/modules/{kernel}/modules.builtin")
    if not path.is_file():
        return set()
    names = (line.rsplit("/", 1)[-1].removesuffix(".ko") for line in from_disk(path.read_bytes()).split())
    return {canonical(n) for n in names}


def plan_module_blacklist(ctx: TargetContext, finding: Finding) -> FixPlan:
    raw = str(finding.data.get("module", ""))
    kernel_version = str(finding.data.get("kernel") or ctx.kernel)
    plan = FixPlan(FIX, why=finding.summary, risk="", files=[CONF])
    if not _MODULE_NAME.fullmatch(raw):
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
    family = ctx.family
    if family is None:
        plan.blocked = (f"The distro family of {printable(ctx.target.os_release.get('ID', '?'))} is "
                        "not known, so its initramfs builder is not either.")
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
    conf = ctx.path(CONF)
    before = conf.read_bytes() if conf.is_file() else b""
    after = add_blacklist(before, module, f"blamed for the crash of kernel {kernel.version}")
    if after != before:
        plan.edits.append(FileEdit(CONF, f"blacklist kernel module {module}", content=after))
        plan.diff = unified_diff(CONF, before, after)
    plan.files.append(kernel.initramfs)
    plan.steps = [Step(argv) for argv in
                  family.initramfs_rebuild(kernel.version, kernel.initramfs,
                                           exists=kernel.initramfs_size is not None)]
    return plan
