"""Check: the GRUB config's entries name a kernel and initramfs that exist, and root= is the
root filesystem's real UUID (not a rescue host's device path, not another disk)."""

from __future__ import annotations

import re

from rescuetui.checks.base import Finding, TargetContext

CHECK = "bootloader"
LINUX_LINE = re.compile(r"^\s*linux(?:16|efi)?\s+(\S+)(.*)$", re.M)
INITRD_LINE = re.compile(r"^\s*initrd(?:16|efi)?\s+(.+)$", re.M)
ROOT_ARG = re.compile(r"(?<!\S)root=(\S+)")
WRONG_DISK = re.compile(r"set root='?hd([1-9])")


def check_bootloader(ctx: TargetContext) -> Finding:
    config = ctx.target.bootloader_config
    if config is None or config.endswith("/entries"):
        return Finding(CHECK, True, "ok", "No GRUB config to check (none found, or BLS entries).")
    text = ctx.path(config).read_text(errors="replace")
    problems: list[str] = []
    finding = "ok"
    roots = {root for _, args in LINUX_LINE.findall(text) for root in ROOT_ARG.findall(args)}
    good = f"UUID={ctx.target.uuid}"
    bad_roots = sorted(r for r in roots if r != good and not r.startswith(("ZFS=", "LABEL=")))
    if bad_roots:
        problems.append(f"root= is {', '.join(bad_roots)}, not {good}")
        finding = "mismatch"
    if WRONG_DISK.search(text):
        problems.append("an entry sets root to another disk (hd1 or later)")
        finding = "wrong-disk"
    boot_is_separate = any(r.entry.mountpoint == "/boot" for r in ctx.target.fstab)
    for path in LINUX_LINE.findall(text)[:1]:  # the default entry comes first
        kernel = ("/boot" + path[0]) if boot_is_separate else path[0]
        if not ctx.path(kernel).is_file():
            problems.append(f"the first entry's kernel {kernel} does not exist")
            finding = "kernel-missing"
    for initrd_args in INITRD_LINE.findall(text)[:1]:
        for path in initrd_args.split():
            initrd = ("/boot" + path) if boot_is_separate else path
            if not ctx.path(initrd).is_file():
                problems.append(f"the first entry's initramfs {initrd} does not exist")
                finding = "initramfs-missing" if finding == "ok" else finding
    if not problems:
        return Finding(CHECK, True, "ok", f"{config}: the first entry's kernel and initramfs "
                       f"exist and root= is {good}.", data={"config": config})
    return Finding(CHECK, False, finding, f"{config}: " + "; ".join(problems),
                   evidence=problems, data={"config": config, "bad_roots": bad_roots})
