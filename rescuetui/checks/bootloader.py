"""Check: GRUB's config exists, has entries, its default entry names a kernel and initramfs that
exist, and root= names the root filesystem (UUID=, PARTUUID=, LABEL=, /dev/mapper/VG-LV or
/dev/VG/LV of it; not a rescue host's device path, not another disk)."""

from __future__ import annotations

import re

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.text import from_disk, printable

CHECK = "bootloader"
LINUX_LINE = re.compile(r"^\s*linux(?:16|efi)?\s+(\S+)(.*)$", re.M)
INITRD_LINE = re.compile(r"^\s*initrd(?:16|efi)?\s+(.+)$", re.M)
ROOT_ARG = re.compile(r"(?<!\S)root=(\S+)")
WRONG_DISK = re.compile(r"set root='?hd([1-9])")


def root_is_named(spec: str, names: list[str]) -> bool:
    """Whether root=`spec` names the root filesystem (UUIDs compared without case)."""
    if spec.startswith("ZFS="):
        return True  # a dataset name: not something a block device can be compared with
    for name in names:
        if spec == name or (spec.upper().startswith(("UUID=", "PARTUUID="))
                            and spec.lower() == name.lower()):
            return True
    return False


def main_config(ctx: TargetContext) -> str | None:
    """The GRUB config the core image reads: <grub dir>/grub.cfg (an ESP stub points there)."""
    chain = ctx.target.boot_chain
    if chain and chain.grub_dir:
        return f"{chain.grub_dir}/grub.cfg"
    config = ctx.target.bootloader_config
    return config if config and not config.endswith("/entries") else None


def check_bootloader(ctx: TargetContext) -> Finding:
    config = main_config(ctx)
    if config is None:
        if ctx.target.bootloader_config:  # BLS only, no GRUB directory: the bls check looks
            return Finding(CHECK, True, "ok", "No GRUB directory; the boot entries are BLS "
                           f"entries ({ctx.target.bootloader_config}).")
        return Finding(CHECK, True, "ok", "No GRUB installed on the target (no /boot/grub or "
                       "/boot/grub2): its boot loader is not one rescuetui checks.")
    found = ctx.files.read(config, 4 << 20)
    if found is None:  # missing, or no regular file (a FIFO, a link out of the target)
        return Finding(CHECK, False, "config-missing",
                       f"{config} does not exist: GRUB finds no menu and stops at its 'grub>' "
                       "prompt with nothing to boot.", evidence=[f"{config}: missing"],
                       data={"config": config})
    text = from_disk(found)
    entries = LINUX_LINE.findall(text)
    if not entries and not _is_bls_config(text):
        return Finding(CHECK, False, "no-entries",
                       f"{config} has no menu entry that loads a kernel: GRUB shows an empty "
                       "menu or its prompt.", data={"config": config})
    problems: list[str] = []
    finding = "ok"
    roots = {root for _, args in entries for root in ROOT_ARG.findall(args)}
    names = ctx.target.root_specs or ([f"UUID={ctx.target.uuid}"] if ctx.target.uuid else [])
    good = f"UUID={ctx.target.uuid}"
    bad_roots = sorted(r for r in roots if not root_is_named(r, names))
    if bad_roots:
        problems.append(f"root= is {', '.join(printable(r) for r in bad_roots)}, which does not "
                        f"name the root filesystem ({good})")
        finding = "mismatch"
    if WRONG_DISK.search(text):
        problems.append("an entry sets root to another disk (hd1 or later)")
        finding = "wrong-disk"
    boot_is_separate = any(r.entry.mountpoint == "/boot" for r in ctx.target.fstab)
    for path in entries[:1]:  # the default entry comes first
        kernel = ("/boot" + path[0]) if boot_is_separate else path[0]
        if not ctx.files.is_file(kernel):
            problems.append(f"the first entry's kernel {printable(kernel)} does not exist")
            finding = "kernel-missing"
    for initrd_args in INITRD_LINE.findall(text)[:1]:
        for path in initrd_args.split():
            initrd = ("/boot" + path) if boot_is_separate else path
            if not ctx.files.is_file(initrd):
                problems.append(f"the first entry's initramfs {printable(initrd)} does not exist")
                finding = "initramfs-missing" if finding == "ok" else finding
    if not problems:
        named = ", ".join(sorted(printable(r) for r in roots)) or good
        return Finding(CHECK, True, "ok", f"{config}: the first entry's kernel and initramfs "
                       f"exist and root= is {named}, the root filesystem.", data={"config": config})
    return Finding(CHECK, False, finding, f"{config}: " + "; ".join(problems),
                   evidence=problems, data={"config": config, "bad_roots": bad_roots})


def _is_bls_config(text: str) -> bool:
    """RHEL 8+ grub.cfg: entries come from /boot/loader/entries through `blscfg`."""
    return re.search(r"^\s*blscfg\s*$", text, re.M) is not None
