"""Check: which kernel GRUB boots when nobody touches the keyboard.

Reads grub.cfg's `set default=` (and the saved entry in grubenv when it says ${saved_entry}),
then finds that entry: a number counts top-level entries, "Submenu>Entry" is a path of ids or
titles, and on BLS systems (RHEL 8+) the saved entry names a file in /boot/loader/entries.
This is what verifies that booting the previous kernel took effect.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.bootchain import read_bls_entries, read_grubenv
from rescuetui.core.grubmenu import MenuEntry, grub_menu_entries
from rescuetui.core.text import ascii_number, from_disk

CHECK = "default-kernel"
SET_DEFAULT = re.compile(r'^\s*set\s+default=(?:"([^"]*)"|\'([^\']*)\'|(\S+))\s*$')


def default_entry(text: str, env: dict[str, str]) -> str | None:
    """What `default` is set to when the menu shows (next_entry is a one-time override)."""
    value = None
    for line in text.splitlines():
        m = SET_DEFAULT.match(line)
        if m:
            found = next(g for g in m.groups() if g is not None)
            if found != "${next_entry}":
                value = found
    if value == "${saved_entry}":
        value = env.get("saved_entry") or "0"
    return value


def resolve(value: str, entries: list[MenuEntry]) -> MenuEntry | None:
    index = ascii_number(value)
    if index is not None:
        tops: list[MenuEntry] = []
        for e in entries:  # the first entry of each top-level item (a submenu counts once)
            if not tops or tops[-1].titles[0] != e.titles[0]:
                tops.append(e)
        top = tops[index] if index < len(tops) else None
        return top if top and len(top.titles) == 1 else None
    for e in entries:
        if value in (e.id_path, e.title_path) or (
                ">" not in value and len(e.titles) == 1 and value in (e.ids[0], e.titles[0])):
            return e
    return None


def _bls_image(ctx: TargetContext, entry: str) -> str | None:
    """The image file the BLS entry `entry` loads (read now: a fix may have just changed it).
    GRUB's blscfg finds a saved entry by its id (the file's name) or, failing that, its title."""
    entries = read_bls_entries(ctx.root)
    found = next((e for e in entries if e.file == f"/boot/loader/entries/{entry}.conf"),
                 next((e for e in entries if e.title == entry), None))
    return PurePosixPath(found.linux).name if found and found.linux else None


def default_kernel(ctx: TargetContext) -> tuple[str | None, str]:
    """(kernel version GRUB boots by default, how that was found)."""
    cfg = ctx.target.bootloader_config
    found = ctx.files.read(cfg, 4 << 20) if cfg else None
    if cfg is None or found is None:
        return None, "no GRUB configuration"
    text = from_disk(found)
    env = read_grubenv(ctx.root, str(PurePosixPath(cfg).parent))  # read now, as above
    value = default_entry(text, env) or "0"
    entry = resolve(value, grub_menu_entries(text))
    image = entry.image if entry else _bls_image(ctx, value)
    for kernel in ctx.target.kernels:
        if image and kernel.image and PurePosixPath(kernel.image).name == image:
            return kernel.version, f"default entry {value!r} loads {image}"
    return None, f"default entry {value!r} names no installed kernel"


def default_command_line(ctx: TargetContext) -> tuple[str | None, str]:
    """(the kernel command line of the entry GRUB boots by default, which entry that is), read
    now from grub.cfg (its `linux` line) or the BLS entry it names (its `options`, with
    $kernelopts from grubenv); None when no default entry can be found."""
    cfg = ctx.target.bootloader_config
    found = ctx.files.read(cfg, 4 << 20) if cfg else None
    if cfg is None or found is None:
        return None, "no GRUB configuration"
    text = from_disk(found)
    env = read_grubenv(ctx.root, str(PurePosixPath(cfg).parent))
    value = default_entry(text, env) or "0"
    entry = resolve(value, grub_menu_entries(text))
    if entry is not None:
        return entry.params, f"default entry {value!r} ({entry.title_path})"
    entries = read_bls_entries(ctx.root)
    bls = next((e for e in entries if e.file == f"/boot/loader/entries/{value}.conf"),
               next((e for e in entries if e.title == value), None))
    if bls is None and ascii_number(value) is not None and entries:
        index = ascii_number(value) or 0  # blscfg lists the newest first
        ordered = sorted(entries, key=lambda e: e.version, reverse=True)
        bls = ordered[index] if index < len(ordered) else None
    if bls is None:
        return None, f"default entry {value!r} is not in the menu"
    options = bls.options.replace("${kernelopts}", env.get("kernelopts", "")).replace(
        "$kernelopts", env.get("kernelopts", ""))
    return options.strip(), f"default entry {value!r} ({bls.file})"


def check_default_kernel(ctx: TargetContext, expected: str | None = None) -> Finding:
    """With `expected`: whether GRUB now boots that kernel by default."""
    version, how = default_kernel(ctx)
    data = {"default_kernel": version, "expected": expected}
    if expected is None:
        ok = version is not None
        return Finding(CHECK, ok, "ok" if ok else "unknown",
                       f"GRUB boots {version} by default ({how})." if ok
                       else f"Which kernel GRUB boots is unclear: {how}.", data=data)
    if version == expected:
        return Finding(CHECK, True, "ok", f"GRUB boots {expected} by default ({how}).", data=data)
    return Finding(CHECK, False, "other-kernel", f"GRUB boots {version or 'no known kernel'} by "
                   f"default, not {expected} ({how}).", data=data)
