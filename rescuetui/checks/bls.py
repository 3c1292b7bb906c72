"""Check: Boot Loader Specification entries (/boot/loader/entries/*.conf, RHEL 8+, Fedora, Azure
Linux 3): every entry's linux and initrd exist on the boot filesystem, and its options (or
grubenv's kernelopts, which `$kernelopts` stands for) carry a root= that names the root
filesystem."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.bootloader import root_is_named
from rescuetui.core.cmdline import split_cmdline
from rescuetui.core.text import printable

CHECK = "bls"


def _on_boot(ctx: TargetContext, path: str) -> str:
    """BLS paths are relative to the filesystem that holds the entries: /boot's own when /boot
    is separate."""
    separate = any(r.entry.mountpoint == "/boot" for r in ctx.target.fstab)
    return ("/boot" + path) if separate and not path.startswith("/boot/") else path


def entry_options(ctx: TargetContext, options: str) -> str:
    chain = ctx.target.boot_chain
    env = chain.grubenv if chain else {}
    return options.replace("$kernelopts", env.get("kernelopts", "")).strip()


def check_bls(ctx: TargetContext) -> Finding:
    chain = ctx.target.boot_chain
    entries = chain.bls if chain else []
    if not entries:
        return Finding(CHECK, True, "ok", "No BLS entries (/boot/loader/entries): the menu is "
                       "grub.cfg's own.")
    names = ctx.target.root_specs or [f"UUID={ctx.target.uuid}"]
    problems: list[str] = []
    data: dict[str, object] = {"entries": [], "bad_roots": {}}
    finding = "ok"
    for entry in entries:
        label = printable(entry.file.rsplit("/", 1)[-1])
        if entry.linux and not ctx.files.is_file(_on_boot(ctx, entry.linux)):
            problems.append(f"{label}: its kernel {printable(entry.linux)} does not exist")
            finding = "kernel-missing"
            data["version"] = entry.version
        env = chain.grubenv if chain else {}
        # $tuned_initrd and the like are grubenv variables, usually empty.
        initrds = [i for v in entry.initrd
                   for i in (env.get(v[1:], "").split() if v.startswith("$") else [v])]
        for initrd in initrds:
            if not ctx.files.is_file(_on_boot(ctx, initrd)):
                problems.append(f"{label}: its initramfs {printable(initrd)} does not exist")
                finding = "initrd-missing" if finding == "ok" else finding
                data["version"] = entry.version
        options = entry_options(ctx, entry.options)
        roots = [p.value or "" for p in split_cmdline(options) if p.key == "root"]
        if not roots:
            problems.append(f"{label}: no root= in its options"
                            + (" (grubenv has no kernelopts)" if "$kernelopts" in entry.options
                               else ""))
            finding = "root-missing" if finding == "ok" else finding
        bad = [r for r in roots if not root_is_named(r, names)]
        if bad:
            problems.append(f"{label}: root={printable(bad[0])} does not name the root "
                            f"filesystem (UUID={ctx.target.uuid})")
            assert isinstance(data["bad_roots"], dict)
            data["bad_roots"][entry.file] = bad
            finding = "mismatch" if finding == "ok" else finding
    if not problems:
        return Finding(CHECK, True, "ok", f"{len(entries)} BLS entries: kernels and initramfs "
                       "images exist, root= names the root filesystem.")
    return Finding(CHECK, False, finding, "; ".join(problems), evidence=problems, data=data)
