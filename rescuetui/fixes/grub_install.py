"""Fix: reinstall GRUB for BIOS on the chosen disk with the family's own grub-install.

The boot code (the MBR's first 440 bytes) and the core image's place (the post-MBR gap or the
BIOS boot partition) are backed up first, so undo puts them back byte for byte. The partition
table is never written: no sgdisk, no --force, no new BIOS boot partition.
"""

from __future__ import annotations

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.bootchain import BOOT_CODE_BYTES, DiskRegion
from rescuetui.fixes.base import FixPlan, Step

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
    if not ctx.path(f"{source}/modinfo.sh").is_file():
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
