"""Fix: make the boot loader start the newest other kernel when the newest one is at fault.

Run-time panics (oops, BUG, lockups) after an update are best met by booting the kernel that
worked before, keeping the failing one installed for later. Each family chooses its default entry
its own way: grubby on RHEL-like systems, the saved entry (grub2-set-default, GRUB_DEFAULT=saved)
on SUSE and RHEL without grubby, and GRUB_DEFAULT in /etc/default/grub on Debian and Arch. GRUB
names an entry inside a submenu by the path "Submenu>Entry"; ids are used where the tool accepts
them, because titles change with translations and distro releases, while ids do not."""

from __future__ import annotations

import re
import shlex
from pathlib import PurePosixPath

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.bootchain import read_bls_entries
from rescuetui.core.distros import DistroFamily
from rescuetui.core.grubmenu import MenuEntry, entry_for, grub_menu_entries
from rescuetui.core.target import Kernel
from rescuetui.core.text import from_disk, printable
from rescuetui.fixes.base import FileEdit, FixPlan, Step, read_for_edit, unified_diff

FIX = "previous-kernel"
DEFAULT_GRUB = "/etc/default/grub"
GRUBENV = "/boot/grub2/grubenv"
GRUBBY = ("/usr/sbin/grubby", "/sbin/grubby")
BLS_ENTRIES = "/boot/loader/entries"
# A shell assignment as /etc/default/grub holds it; the value may be quoted.
_ASSIGNMENT = re.compile(r"""^(\s*(?:export\s+)?GRUB_DEFAULT=)("[^"]*"|'[^']*'|[^\s#;]*)(.*)$""")
# What would let a value escape its double quotes when grub-mkconfig sources the file.
_UNSAFE_IN_QUOTES = re.compile(r'["$`\\\n]')


def grub_default(text: str) -> str | None:
    """The value GRUB_DEFAULT ends up with when the file is sourced (the last assignment)."""
    value = None
    for line in text.split("\n"):  # the shell's lines: only \n ends one
        match = _ASSIGNMENT.match(line.rstrip("\r"))
        if match:
            value = match.group(2).strip("\"'")
    return value


def set_grub_default(text: bytes, value: str) -> bytes:
    """Every GRUB_DEFAULT assignment set to "value" in place (comments after it kept), or one
    appended when there is none; no other line changes."""
    lines = from_disk(text).split("\n")
    found = False
    for n, line in enumerate(lines):
        body = line.rstrip("\r")
        match = _ASSIGNMENT.match(body)
        if match:
            found = True
            lines[n] = f'{match.group(1)}"{value}"{match.group(3)}{line[len(body):]}'
    out = "\n".join(lines)
    if not found:
        out += ("\n" if out and not out.endswith("\n") else "") + f'GRUB_DEFAULT="{value}"\n'
    return out.encode("utf-8", "surrogateescape")


def previous_kernel(kernels: list[Kernel], failing: str) -> Kernel | None:
    """The newest kernel other than `failing` whose image and initramfs are both in place."""
    usable = [k for k in kernels if k.version != failing and k.image and k.initramfs_size is not None]
    return usable[0] if usable else None


def plan_previous_kernel(ctx: TargetContext, finding: Finding) -> FixPlan:
    failing = str(finding.data.get("kernel") or ctx.kernel)
    plan = FixPlan(
        FIX,
        why=finding.summary,
        risk=f"Low: only the default boot entry changes; kernel {printable(failing)} stays "
             "installed and can still be chosen in the boot menu.",
    )
    family = ctx.family
    if family is None:
        plan.blocked = (f"The distro family of {printable(ctx.target.os_release.get('ID', '?'))} is "
                        "not known, so neither is how it chooses its default kernel.")
        return plan
    chosen = previous_kernel(ctx.target.kernels, failing)
    if chosen is None or chosen.image is None:
        plan.blocked = _no_previous_kernel(ctx, failing)
        return plan
    plan.data["kernel"] = chosen.version
    plan.why = (f"{finding.summary} Kernel {chosen.version} becomes the default: the newest other "
                "kernel with its image and initramfs in place.")
    failing_kernel = next((k for k in ctx.target.kernels if k.version == failing), None)
    failing_image = (failing_kernel.image if failing_kernel and failing_kernel.image
                     else f"/boot/vmlinuz-{failing}")
    if family.name in ("rhel", "azurelinux"):
        _plan_rhel(ctx, family, plan, chosen.image, failing_image)
    elif family.name == "suse":
        cfg_entries = _grub_cfg_entries(ctx, family)
        entry = entry_for(cfg_entries, PurePosixPath(chosen.image).name)
        old = entry_for(cfg_entries, PurePosixPath(failing_image).name)
        _plan_saved_entry(ctx, family, plan, chosen.image, _title_of(entry), _title_of(old))
    elif family.name in ("debian", "arch"):
        _plan_grub_default(ctx, family, plan, chosen.image)
    else:
        plan.blocked = f"rescuetui does not know how the {family.name} family sets its default kernel."
    return plan


def _no_previous_kernel(ctx: TargetContext, failing: str) -> str:
    incomplete = [k.version for k in ctx.target.kernels
                  if k.version != failing and (not k.image or k.initramfs_size is None)]
    hint = (f" Kernel {', '.join(printable(v) for v in incomplete)} lacks its image or initramfs: "
            "rebuild the initramfs (fix initramfs-rebuild) or reinstall that kernel package, then "
            "run this fix again." if incomplete else
            " Install another kernel version with the package manager in the chroot, or repair "
            "this one (reinstall it, rebuild its initramfs).")
    return f"No kernel other than {printable(failing)} has both its image and initramfs in /boot." + hint


def _plan_rhel(ctx: TargetContext, family: DistroFamily, plan: FixPlan, image: str,
               failing_image: str) -> None:
    if any(ctx.files.is_file(p) for p in GRUBBY):
        plan.steps.append(Step(["grubby", "--set-default", image]))
        plan.files.append(GRUBENV)
        back = printable(shlex.join(["grubby", "--set-default", failing_image]))
        plan.undo = f"Run `{back}` in the chroot to make the failing kernel the default again."
        _ensure_saved_default(ctx, family, plan)
        return
    # A BLS entry is named by its id (the file's name without .conf), as grubby names it: GRUB's
    # blscfg takes it as the entry's id, and the default-kernel check finds the entry by it
    # (a title changes with the release and need not be unique). Without BLS (RHEL 7), the
    # menu's title path.
    entries = _grub_cfg_entries(ctx, family)
    name, old = PurePosixPath(image).name, PurePosixPath(failing_image).name
    title = _bls_id(ctx, name) or _title_of(entry_for(entries, name))
    old_title = _bls_id(ctx, old) or _title_of(entry_for(entries, old))
    _plan_saved_entry(ctx, family, plan, image, title, old_title)


def _title_of(entry: MenuEntry | None) -> str | None:
    return entry.title_path if entry else None


def _plan_saved_entry(ctx: TargetContext, family: DistroFamily, plan: FixPlan, image: str,
                      title: str | None, old_title: str | None) -> None:
    """grub2-set-default with a menu entry's id or title path (`title`); GRUB_DEFAULT must be
    `saved` for it to count."""
    if title is None:
        where = ("the GRUB config" if family.name == "suse" else
                 f"{BLS_ENTRIES} or the GRUB config (and grubby is not installed)")
        plan.blocked = (f"No boot menu entry for {image} was found in {where}. Regenerate the "
                        "GRUB config "
                        f"(`{shlex.join(family.regenerate_grub()[0])}` in the chroot) and run this "
                        "fix again, or choose the kernel in the boot menu by hand.")
        return
    plan.steps.append(Step(["grub2-set-default", title]))
    plan.files.append(GRUBENV)
    back = (f"run `{printable(shlex.join(['grub2-set-default', old_title]))}` in the chroot" if old_title else
            "run grub2-set-default in the chroot with the failing kernel's menu entry title")
    plan.undo = f"To make the failing kernel the default again, {back}."
    _ensure_saved_default(ctx, family, plan)


def _ensure_saved_default(ctx: TargetContext, family: DistroFamily, plan: FixPlan) -> None:
    """A saved entry is only honoured when grub.cfg was generated with GRUB_DEFAULT=saved."""
    path, before = _grub_default_source(ctx, family)
    if before is None or grub_default(from_disk(before)) == "saved":
        return
    _edit_default_grub(ctx, family, plan, path, before, "saved")
    plan.undo += f" rescuetui undo restores {path}."


def _plan_grub_default(ctx: TargetContext, family: DistroFamily, plan: FixPlan, image: str) -> None:
    cfg = _grub_cfg(ctx, family)
    entry = entry_for(_grub_cfg_entries(ctx, family), PurePosixPath(image).name)
    regenerate = shlex.join(family.regenerate_grub()[0])
    if entry is None:
        plan.blocked = (f"No menu entry in {cfg or 'the GRUB config'} loads {image}. Regenerate "
                        f"the GRUB config first (`{regenerate}` in the chroot) so that it lists "
                        "the kernel, then run this fix again.")
        return
    value = entry.id_path
    if _UNSAFE_IN_QUOTES.search(value):
        plan.blocked = (f"The menu entry {printable(value)} holds characters that cannot be written "
                        f"safely into {DEFAULT_GRUB}; choose the kernel in the boot menu by hand.")
        return
    path, before = _grub_default_source(ctx, family)
    _edit_default_grub(ctx, family, plan, path, before or b"", value)
    plan.undo = (f"rescuetui undo restores {path}; then run `{regenerate}` in the chroot so that "
                 "the GRUB config follows it again.")


def _edit_default_grub(ctx: TargetContext, family: DistroFamily, plan: FixPlan, path: str,
                       before: bytes, value: str) -> None:
    after = set_grub_default(before, value)
    if after != before:
        plan.edits.append(FileEdit(path, f"default boot entry: GRUB_DEFAULT={value}", content=after))
        plan.diff += unified_diff(path, before, after)
        plan.files.append(path)
    plan.steps += [Step(argv) for argv in family.regenerate_grub()]
    plan.files.append(family.grub_command[-1])
    plan.risk += (" The GRUB config is regenerated: re-run the boot loader check afterwards (from "
                  "a rescue host it can name the wrong root device).")


def _grub_default_source(ctx: TargetContext, family: DistroFamily) -> tuple[str, bytes | None]:
    """The file whose GRUB_DEFAULT takes effect, and its content (None: it does not exist).
    Debian's grub-mkconfig sources /etc/default/grub.d/*.cfg after /etc/default/grub."""
    source = (DEFAULT_GRUB, read_for_edit(ctx.files, DEFAULT_GRUB))
    if family.name == "debian":
        for conf in ctx.files.glob("/etc/default/grub.d", "*.cfg"):
            content = read_for_edit(ctx.files, conf) or b""
            if grub_default(from_disk(content)) is not None:
                source = (conf, content)
    return source


def _grub_cfg(ctx: TargetContext, family: DistroFamily) -> str | None:
    ident = ctx.target.os_release.get("ID", "")
    for template in family.bootloader_configs:
        name = template.format(id=ident)
        if ctx.files.is_file(name):
            return name
    return None


def _grub_cfg_entries(ctx: TargetContext, family: DistroFamily) -> list[MenuEntry]:
    cfg = _grub_cfg(ctx, family)
    found = ctx.files.read(cfg) if cfg else None
    return grub_menu_entries(from_disk(found)) if found is not None else []


def _bls_id(ctx: TargetContext, image: str) -> str | None:
    """The id of the Boot Loader Specification entry whose linux line loads `image`."""
    for entry in read_bls_entries(ctx.root):
        if entry.linux and PurePosixPath(entry.linux).name == image:
            return PurePosixPath(entry.file).stem
    return None
