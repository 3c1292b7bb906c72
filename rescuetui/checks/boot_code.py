"""Check: on a system that boots BIOS, the MBR holds GRUB's boot code, the core image is where
that code looks for it (post-MBR gap or BIOS boot partition) and whole, and the platform
modules the core image loads (normal.mod, its dependencies, grub.cfg's insmods) exist."""

from __future__ import annotations

import re

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.bootchain import module_dependencies
from rescuetui.core.text import from_disk

CHECK = "boot-code"
PLATFORM = "i386-pc"
INSMOD = re.compile(r"^\s*insmod\s+(\S+)", re.M)
OTHER_LOADERS = {"windows": "Windows' MBR code", "lilo": "LILO", "syslinux": "SYSLINUX",
                 "isolinux": "ISOLINUX"}


def check_boot_code(ctx: TargetContext) -> Finding:
    chain = ctx.target.boot_chain
    disk = ctx.target.disk
    if chain is None or not chain.boots_bios:
        why = f"firmware {chain.firmware}" if chain else "no boot chain read"
        return Finding(CHECK, True, "ok", f"Not a BIOS-booting system ({why}): no MBR boot code "
                       "to check.", data={"firmware": chain.firmware if chain else None})
    bios = chain.bios
    data: dict[str, object] = {"disk": disk, "firmware": chain.firmware}
    if bios is None:
        return Finding(CHECK, False, "unchecked", f"Could not check: {'; '.join(chain.evidence)}",
                       data=data)
    data["boot_code"] = bios.boot_code
    if bios.boot_code == "none":
        return Finding(CHECK, False, "boot-code-missing",
                       f"The MBR of {disk} has no boot code (its first 440 bytes are zero): BIOS "
                       "firmware finds nothing to run and stops after 'Booting from Hard "
                       "Disk...'.", evidence=["MBR bytes 0-439: all zero"], data=data)
    if bios.boot_code in OTHER_LOADERS:
        return Finding(CHECK, True, "ok", f"The MBR of {disk} holds {OTHER_LOADERS[bios.boot_code]},"
                       " not GRUB's: rescuetui leaves another boot loader alone.", data=data)
    if bios.boot_code == "unknown":
        return Finding(CHECK, False, "boot-code-damaged",
                       f"The MBR of {disk} holds code that is neither GRUB's nor another known "
                       "boot loader's: overwritten or damaged.", data=data)
    data["core_place"] = bios.core_place
    if not bios.core_ok:
        return Finding(CHECK, False, "core-image-missing",
                       f"GRUB's boot code in the MBR of {disk} loads a core image that is not "
                       f"there: {bios.core_problem}.", evidence=[bios.core_problem], data=data)
    platform = chain.platform(PLATFORM)
    if platform is None:
        where = f"{chain.grub_dir}/{PLATFORM}" if chain.grub_dir else f"/boot/grub/{PLATFORM}"
        return Finding(CHECK, False, "modules-missing",
                       f"{where} is missing: GRUB's core image cannot load normal.mod and stops "
                       "at 'grub rescue>'.", data=data | {"directory": where})
    missing = _missing_modules(ctx, platform.directory, set(platform.modules))
    if missing:
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        return Finding(CHECK, False, "modules-missing",
                       f"{platform.directory} lacks {shown}: GRUB stops at 'grub rescue>' or "
                       "cannot read /boot.", evidence=[f"missing: {m}" for m in missing],
                       data=data | {"directory": platform.directory, "modules": missing})
    return Finding(CHECK, True, "ok", f"The MBR of {disk} holds GRUB's boot code; its core image "
                   f"is whole in the {bios.core_place}; {platform.directory} has normal.mod and "
                   f"the modules grub.cfg loads ({len(platform.modules)} modules).", data=data)


def _missing_modules(ctx: TargetContext, directory: str, present: set[str]) -> list[str]:
    """The files of normal.mod and grub.cfg's insmods, with what they depend on (moddep.lst),
    that are not in the directory (`present`: module names there)."""
    wanted = ["normal"]
    config = ctx.files.read(directory.rsplit("/", 1)[0] + "/grub.cfg", 1 << 20)
    if config is not None:
        wanted += INSMOD.findall(from_disk(config))
    deps = module_dependencies(ctx.root, directory)
    if not deps:
        return ["moddep.lst"]
    seen: list[str] = []
    # moddep.lst lists every module of the platform: an insmod of another platform's module
    # (grub.cfg's load_video tries efi_gop on every machine) is not this one's business.
    queue = [w for w in wanted if w in deps or w == "normal"]
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.append(name)
        queue += deps.get(name, [])
    return [f"{m}.mod" for m in seen if m not in present]
