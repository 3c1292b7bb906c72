"""Fix: reinstall GRUB on the chosen disk: for BIOS with the family's own grub-install, for
UEFI as grub-install builds it, written to the ESP with mtools.

The boot code (the MBR's first 440 bytes) and the core image's place (the post-MBR gap or the
BIOS boot partition) are backed up first, so undo puts them back byte for byte. The partition
table is never written: no sgdisk, no --force, no new BIOS boot partition.
"""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.bootchain import BOOT_CODE_BYTES
from rescuetui.core.diskbytes import DiskRegion
from rescuetui.core.esp import efi_directory
from rescuetui.core.inventory import scan_inventory
from rescuetui.fixes.base import FileEdit, FixPlan, Step

FIX = "grub-reinstall"
PLATFORM = "i386-pc"


def plan_grub_reinstall(ctx: TargetContext, finding: Finding) -> FixPlan:
    chain = ctx.target.boot_chain
    disk = chain.disk if chain else ctx.target.disk
    plan = FixPlan(
        FIX, why=finding.summary,
        risk=f"Medium: GRUB's boot code goes into the first {BOOT_CODE_BYTES} bytes of {disk} "
             "and its core image into the space after the MBR; the partition table (bytes "
             "440-511) is never written. Both are backed up first.",
        undo="rescuetui undo writes the backed-up boot code and core image back byte for byte; "
             "the module files grub-install copies into the GRUB directory are listed in the "
             "journal's manifest.",
        disk=disk)
    family = ctx.family
    if family is None or chain is None:
        plan.blocked = "The distro family is not known, so neither is its grub-install."
        return plan
    bios = chain.bios
    if bios is None:
        plan.blocked = f"The first MiB of {disk} could not be read."
        return plan
    if bios.boot_code in ("windows", "lilo", "syslinux", "isolinux"):
        plan.blocked = f"The MBR holds {bios.boot_code}'s boot code; rescuetui leaves it alone."
        return plan
    space = bios.bios_boot_partition or bios.gap
    if space is None:
        plan.blocked = (f"{disk} has a GPT table without a BIOS boot partition, so GRUB's core "
                        "image has no place to go. Making one changes the partition table, which "
                        "rescuetui never does: boot this system with UEFI, or add a 1 MiB BIOS "
                        "boot partition (type 21686148-6449-6E6F-744E-656564454649) by hand.")
        return plan
    if space is bios.gap and space.length < 32 * 1024:
        plan.blocked = (f"The gap between the MBR and the first partition of {disk} is only "
                        f"{space.length} bytes: GRUB's core image does not fit, and a blocklist "
                        "install into /boot breaks with the next file move.")
        return plan
    plan.regions = [DiskRegion(0, BOOT_CODE_BYTES, "the MBR boot code"), space]
    boot_dir = (chain.grub_dir or "/boot/grub").rsplit("/", 1)[0] or "/boot"
    source = f"/usr/lib/grub/{PLATFORM}"
    if not ctx.files.is_file(f"{source}/modinfo.sh"):
        package = family.grub_package(PLATFORM)
        if package is None:
            plan.blocked = (f"{source} is missing on the target and the package that ships it "
                            f"is not known for {family.name}.")
            return plan
        # grub-install copies the modules from there: bring them back first.
        plan.steps += [Step(argv) for argv in family.reinstall([package])]
        plan.files.append(source)
    plan.steps.append(Step([family.grub_install, f"--target={PLATFORM}",
                            f"--boot-directory={boot_dir}", disk]))
    plan.files += [f"{disk} (boot code, {space.what})",
                   f"{chain.grub_dir or boot_dir + '/grub'}/{PLATFORM}"]
    plan.data = {"disk": disk}
    return plan


# -- UEFI -------------------------------------------------------------------------------------

UEFI_FIX = "grub-reinstall-uefi"
EFI_PLATFORMS = {"x86_64": ("x86_64-efi", "grubx64.efi", "BOOTX64.EFI"),
                 "aarch64": ("arm64-efi", "grubaa64.efi", "BOOTAA64.EFI")}
FS_MODULES = {"ext2": "ext2", "ext3": "ext2", "ext4": "ext2", "xfs": "xfs", "btrfs": "btrfs"}


def plan_grub_reinstall_uefi(ctx: TargetContext, finding: Finding) -> FixPlan:
    """GRUB's EFI image built in the chroot as grub-install builds it (grub-mkimage with an
    early config that finds /boot by UUID), its modules copied into the GRUB directory, and the
    image written with mtools to the distro's loader \\EFI\\<id>\\ and to the fallback loader
    \\EFI\\BOOT\\, so the disk boots with any NVRAM. The whole ESP is backed up first."""
    chain = ctx.target.boot_chain
    arch = ctx.target.arch or "x86_64"
    device = finding.data.get("device") or ctx.target.esp
    plan = FixPlan(
        UEFI_FIX, why=finding.summary,
        risk=f"Low: GRUB's EFI image is written to the ESP {device} (the distro's loader and the "
             "fallback loader); the whole ESP is backed up first. NVRAM is not touched.",
        undo="rescuetui undo writes the backed-up ESP back byte for byte; the module files "
             "copied into the GRUB directory are listed in the journal's manifest.")
    family = ctx.family
    if family is None or chain is None or device is None:
        plan.blocked = "The distro family, the boot chain or the ESP is not known."
        return plan
    if arch not in EFI_PLATFORMS:
        plan.blocked = f"GRUB for {arch} EFI is not something rescuetui installs."
        return plan
    platform, loader, fallback = EFI_PLATFORMS[arch]
    esp = chain.esp
    if esp and any(f.rsplit("/", 1)[-1].lower().startswith("shim") for f in esp.files):
        packages = " and ".join(family.signed_boot_packages) or "the signed shim and GRUB"
        plan.blocked = ("The ESP boots through shim (Secure Boot): an unsigned GRUB would not "
                        f"start there. Reinstall {packages} from a chroot with the ESP mounted "
                        "(rescuetui does not build that yet).")
        return plan
    span = chain.span(device)
    if span is None:
        plan.blocked = f"The ESP {device} is not a partition of {chain.disk}."
        return plan
    distro_dir = efi_directory(ctx.target.os_release)
    grub_dir = chain.grub_dir or ("/boot/grub2" if family.grub_install == "grub2-install"
                                  else "/boot/grub")
    target_dir = f"{grub_dir}/{platform}"
    source = f"/usr/lib/grub/{platform}"
    boot_entry = next((r for r in ctx.target.fstab if r.entry.mountpoint == "/boot" and r.device),
                      None)
    inventory = scan_inventory()
    boot_device = inventory.get(boot_entry.device) if boot_entry and boot_entry.device else None
    boot_uuid = boot_device.identity.uuid if boot_device else ctx.target.uuid
    boot_fstype = (boot_device.fstype if boot_device else ctx.target.fstype) or "ext4"
    prefix = grub_dir.removeprefix("/boot") if boot_device else grub_dir
    if not boot_uuid:
        plan.blocked = "The /boot filesystem has no UUID for GRUB's image to find it by."
        return plan
    plan.disk, plan.regions = chain.disk, [DiskRegion(span.region.offset, span.region.length,
                                                       f"the ESP ({device})")]
    if not ctx.files.is_file(f"{source}/modinfo.sh"):
        package = family.grub_package(platform)
        if package is None:
            plan.blocked = f"{source} is missing and the package that ships it is not known."
            return plan
        plan.steps += [Step(argv) for argv in family.reinstall([package])]
    load_cfg = f"{target_dir}/load.cfg"
    early = (f"search.fs_uuid {boot_uuid} root\nset prefix=($root)'{prefix}'\n").encode()
    plan.edits.append(FileEdit(load_cfg, "GRUB's early config: find /boot by UUID",
                               content=early, mode=0o644, make_parents=True))
    # The platform's modules, lists and modinfo.sh, as grub-install copies them.
    plan.steps.append(Step(["cp", "-a", "-T", source, target_dir]))
    image = f"{target_dir}/core.efi"
    plan.steps.append(Step(["grub-mkimage" if family.grub_install == "grub-install"
                            else "grub2-mkimage", "--directory", source, "--prefix", prefix,
                            "--config", load_cfg, "--output", image, "--format", platform,
                            "--compression", "auto", FS_MODULES.get(boot_fstype, "ext2"),
                            "part_gpt", "part_msdos", "search_fs_uuid"]))
    dirs = ["::/EFI", "::/EFI/BOOT"] + ([f"::/EFI/{distro_dir}"] if distro_dir else [])
    plan.steps.append(Step(["mmd", "-i", device, *dirs], in_chroot=False, ok_codes=(0, 1)))
    if distro_dir:
        plan.steps.append(Step(["mcopy", "-o", "-i", device, "-",
                                f"::/EFI/{distro_dir}/{loader}"], in_chroot=False,
                               stdin_path=image))
    # The image reaches the host's mcopy as its standard input, opened inside the target
    # (a regular file): what the target's grub-mkimage left there is never a name to follow.
    plan.steps.append(Step(["mcopy", "-o", "-i", device, "-", f"::/EFI/BOOT/{fallback}"],
                           in_chroot=False, stdin_path=image))
    plan.files = [f"{device}: /EFI/{distro_dir or 'BOOT'}/{loader}, /EFI/BOOT/{fallback}",
                  target_dir]
    return plan
