"""Check: on a system that boots UEFI, the EFI system partition is on the disk and in fstab,
its FAT filesystem is clean (`fsck.vfat -n`, never mounted), the distro's loader and the
fallback loader \\EFI\\BOOT\\BOOTX64.EFI exist and are EFI executables for the machine, a stub
grub.cfg names a filesystem that exists, and GRUB's EFI modules are there."""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.esp import FALLBACK_LOADERS, efi_directory, read_esp
from rescuetui.core.inventory import scan_inventory
from rescuetui.core.text import printable

CHECK = "esp"
PLATFORMS = {"x86_64": "x86_64-efi", "aarch64": "arm64-efi"}
DISTRO_LOADERS = {"x86_64": ("shimx64.efi", "grubx64.efi"), "aarch64": ("shimaa64.efi",
                                                                        "grubaa64.efi")}
# fsck.vfat -n on a FAT it cannot even read: only a new filesystem (or its backup boot
# sector) helps, not a repair.
UNREADABLE = ("Logical sector size is zero", "Both FATs appear to be corrupt",
              "Currently, only 1 or 2 FATs are supported", "non DOS media")


def esp_device(ctx: TargetContext) -> str | None:
    chain = ctx.target.boot_chain
    return chain.layout.esp_device if chain else ctx.target.esp


def check_esp(ctx: TargetContext) -> Finding:
    chain = ctx.target.boot_chain
    if chain is None or not chain.boots_uefi:
        return Finding(CHECK, True, "ok", "Not a UEFI-booting system"
                       + (f" (firmware {chain.firmware})" if chain else "")
                       + ": no EFI system partition to check.")
    device = esp_device(ctx)
    arch = ctx.target.arch or "x86_64"
    data: dict[str, object] = {"device": device, "arch": arch, "disk": chain.disk}
    if device is None:
        return Finding(CHECK, False, "no-esp", f"The system boots UEFI ({'; '.join(chain.evidence)}) "
                       f"but {chain.disk} has no EFI system partition.", data=data)
    fsck = ctx.runner.run_blocking(["fsck.vfat", "-n", device], in_chroot=False, timeout=120,
                                   look=True)
    if fsck.returncode != 0:
        lines = [printable(line) for line in fsck.tail
                 if line.strip() and not line.startswith("fsck.fat ")][-6:]  # not its banner
        unreadable = any(word in line for line in fsck.tail for word in UNREADABLE)
        data["fsck"] = lines
        return Finding(CHECK, False, "esp-unreadable" if unreadable else "esp-damaged",
                       f"The FAT filesystem of the ESP {device} "
                       + ("cannot be read: " if unreadable else "has errors: ")
                       + (lines[-1] if lines else f"fsck.vfat -n exit {fsck.returncode}")
                       + "; OVMF and real firmware cannot load a loader from it.",
                       evidence=lines, data=data)
    esp = read_esp(device)
    if not esp.readable:
        data["fsck"] = [esp.error]
        return Finding(CHECK, False, "esp-unreadable", f"mtools cannot read the ESP {device}: "
                       f"{printable(esp.error)}.", evidence=[printable(esp.error)], data=data)
    ident = efi_directory(ctx.target.os_release)
    fallback = FALLBACK_LOADERS.get(arch, "/EFI/BOOT/BOOTX64.EFI")
    problems = []
    fallback_kind = esp.loaders.get(esp.actual(fallback) or "", "missing")
    if fallback_kind != arch:
        problems.append(f"the fallback loader {fallback} is {_kind(fallback_kind, arch)}")
    names = DISTRO_LOADERS.get(arch, ())
    distro = [f for f in esp.files if ident and f.lower().startswith(f"/efi/{ident}/")
              and f.rsplit("/", 1)[-1].lower() in names]
    bad = [f for f in distro if esp.loaders.get(f) != arch]
    if not distro and ident:  # an ID that is no safe directory name: the fallback alone counts
        problems.append(f"the distro's loader \\EFI\\{printable(ident)}\\{names[-1] if names else '?'} "
                        "is missing")
    for f in bad:
        problems.append(f"{printable(f)} is {_kind(esp.loaders.get(f, 'missing'), arch)}")
    data["files"] = esp.files[:50]
    if problems:
        return Finding(CHECK, False, "loader-missing", f"ESP {device}: " + "; ".join(problems)
                       + ". A disk on a repair VM or with a fresh NVRAM boots only through the "
                       "fallback loader.", evidence=problems, data=data | {"id": ident})
    stub_problems = _stub_problems(ctx, esp.stubs)
    if stub_problems:
        return Finding(CHECK, False, "stub-wrong", f"ESP {device}: " + "; ".join(stub_problems),
                       evidence=stub_problems, data=data | {"id": ident})
    platform = chain.platform(PLATFORMS.get(arch, "x86_64-efi"))
    signed = any(f.rsplit("/", 1)[-1].lower().startswith("shim") for f in distro)
    if not signed and (platform is None or "normal" not in platform.modules):
        where = platform.directory if platform else f"{chain.grub_dir or '/boot/grub'}/" \
            f"{PLATFORMS.get(arch, 'x86_64-efi')}"
        return Finding(CHECK, False, "modules-missing", f"{where} has no normal.mod: the EFI "
                       "GRUB image loads its modules from there and stops at 'grub rescue>'.",
                       data=data | {"id": ident})
    return Finding(CHECK, True, "ok", f"ESP {device}: the FAT is clean, {printable(fallback)} and "
                   f"{', '.join(printable(f) for f in distro)} are {arch} EFI executables"
                   + (f"; stub configs name {', '.join(esp.stubs.values())}" if any(
                       esp.stubs.values()) else "") + ".", data=data)


def _kind(found: str, arch: str) -> str:
    if found == "missing":
        return "missing"
    if found in ("not-pe", "empty", "unreadable"):
        return f"not an EFI executable ({found})"
    return f"an EFI executable for {found}, not {arch}"


def _stub_problems(ctx: TargetContext, stubs: dict[str, str]) -> list[str]:
    """A stub grub.cfg on the ESP (RHEL, Ubuntu) finds /boot by UUID: that UUID must be a
    filesystem on the system's disk."""
    wanted = {path: uuid for path, uuid in stubs.items() if uuid}
    if not wanted:
        return []
    chain = ctx.target.boot_chain
    disk = chain.disk if chain else ctx.target.disk
    inventory = scan_inventory()
    present = {(d.identity.uuid or "").lower() for d in inventory.on_disk(disk)}
    present |= {(d.identity.uuid or "").lower() for d in inventory.devices
                if d.dm_name and disk in inventory.disks_below(d)}
    return [f"{printable(path)} looks for the filesystem {printable(uuid)}, which is not on "
            f"{disk}" for path, uuid in wanted.items() if uuid.lower() not in present]
