"""The decision tree, as data: from a failure class, through checks, to the fixes that apply.

Every node explains itself in plain language (it is what trainees read), names the checks whose
findings choose the next node, and the fixes it may offer. Findings are words a check reports
(`missing`, `ok`, ...): the console text settles some nodes, the checks on the disk the others.
Before the checks have run (`diagnose` of console text alone) the walk takes each node's
`default`, the likeliest way; once they ran (a repair), their words choose, and `default` is
the way on only where none of their words is a branch.
Every check and fix a node names exists (tests/test_diagnose.py resolves each id).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Node:
    id: str
    title: str
    explanation: str
    checks: tuple[str, ...] = ()
    fixes: tuple[str, ...] = ()
    # Asked of the operator when neither the logs nor the checks can tell; only where the answer
    # changes the way ("yes" and "no" are branches of `next` leading to different nodes).
    question: str | None = None
    next: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "explanation": self.explanation,
                "checks": list(self.checks), "fixes": list(self.fixes),
                "question": self.question, "next": dict(self.next)}


_NODES = (
    # -- boot-time: the root filesystem -------------------------------------------------
    Node("initramfs-present", "Is there a good initramfs for the failing kernel?",
         "Without an initramfs the kernel must mount root by itself, and a distribution kernel "
         "cannot: the disk and filesystem drivers are modules inside the initramfs. Check that "
         "the initramfs named in the boot entry exists for the exact kernel that failed, lists "
         "completely, and carries the root disk's and root filesystem's drivers.",
         checks=("initramfs",), fixes=("initramfs-rebuild",),
         next={"missing": "fix-initramfs", "truncated": "boot-space", "lacks-driver":
               "fix-initramfs", "lacks-lvm": "fix-initramfs", "host-only": "fix-initramfs",
               "ok": "root-parameter", "default": "root-parameter"}),
    Node("boot-space", "Is /boot full?",
         "A truncated initramfs is usually written into a full /boot. Free space (remove old "
         "kernels with the package manager, never by deleting files by hand) before rebuilding, "
         "or the new one is cut short too.",
         checks=("boot-space",), next={"full": "free-boot-space", "ok": "fix-initramfs",
                                       "default": "fix-initramfs"}),
    Node("free-boot-space", "Make room in /boot",
         "Remove kernels that are neither running nor the newest two through the package "
         "manager; then rebuild the initramfs.", fixes=("remove-old-kernels",),
         next={"default": "fix-initramfs"}),
    Node("fix-initramfs", "Rebuild the initramfs for the failing kernel",
         "Run depmod for that kernel, then the family's initramfs builder for that version "
         "(update-initramfs -c -k VER, dracut -f PATH VER, mkinitcpio -P). Then re-run every "
         "boot check: package hooks may have changed more.", fixes=("initramfs-rebuild",)),
    Node("root-parameter", "Does root= name the root filesystem that is really there?",
         "The boot entry's root= (UUID, LABEL or device) must match the root filesystem found "
         "on this disk. A cloned or restored disk has new UUIDs; a config regenerated on a repair "
         "VM can name the repair VM's disk.",
         checks=("bootloader", "bls", "kernel-cmdline"), fixes=("bootloader-regenerate",),
         next={"wrong-disk": "fix-bootloader", "root-missing": "fix-bootloader",
               "duplicate-root": "fix-bootloader", "ok": "previous-kernel",
               "default": "previous-kernel"}),
    Node("fix-bootloader", "Regenerate the boot loader config and verify it",
         "Regenerate grub.cfg (grub-mkconfig / grub2-mkconfig), then check that root= is the "
         "root filesystem's UUID and that no entry names another disk (hd2).",
         fixes=("bootloader-regenerate",)),
    Node("previous-kernel", "Does the previous kernel boot?",
         "When the newest kernel fails and an older one is installed, booting the older one "
         "gets the system back while the newest is repaired or reinstalled.",
         checks=("kernels",), fixes=("previous-kernel",),
         next={"one": "fix-kernel"}),
    Node("root-device", "Does the root device the initramfs waited for exist?",
         "Compare the device the initramfs waited for (UUID=, LABEL=, /dev/mapper/...) with what "
         "this disk really has. A wrong UUID in root= or fstab, an LVM volume group or LUKS "
         "device that was not opened, or a missing storage driver all look the same here.",
         checks=("bootloader", "bls", "initramfs", "filesystem"),
         next={"wrong-disk": "fix-root-reference", "root-missing": "fix-root-reference",
               "lacks-lvm": "open-volumes", "lacks-driver": "fix-initramfs",
               "missing": "fix-initramfs", "errors": "fix-fsck", "ok": "fix-initramfs",
               "default": "fix-initramfs"}),
    Node("fix-root-reference", "Correct the root reference",
         "Point root= in the boot loader config, and / in /etc/fstab, at the UUID the root "
         "filesystem really has; comment lines out rather than delete them.",
         fixes=("fstab-correct-uuid", "bootloader-root")),
    Node("open-volumes", "The root is on LVM or LUKS",
         "The initramfs must open the volume before it can mount root: check the volume group "
         "name (a repair VM may have renamed a duplicate), the crypttab, and that the initramfs "
         "carries the lvm2 and cryptsetup hooks; then rebuild the initramfs.",
         checks=("initramfs",), fixes=("initramfs-rebuild",)),
    # -- boot-time: init and files ---------------------------------------------------------
    Node("init-exit-code", "Why did init die?",
         "The exit code the kernel printed tells: exit 127 means a program or library is "
         "missing, 126 that something is not executable, a signal (SIGSEGV, SIGBUS) that init "
         "crashed on damaged files, exit 1 from an initramfs that run-init could not start init.",
         checks=("permissions", "libraries"),
         next={"wrong": "fix-permissions", "missing": "fix-reinstall",
               "exit-127": "missing-files", "exit-126": "permissions", "signal": "damaged-files",
               "exit-1": "permissions", "default": "missing-files"}),
    Node("missing-files", "Which file that init needs is missing?",
         "Read the ELF headers of init (systemd) and of the shell on the host: a library they "
         "need that is not there is named. Package verification (dpkg's md5sums, the RPM "
         "database) lists every missing or altered file; the owning package is the one to "
         "reinstall.",
         checks=("libraries", "packages"), fixes=("package-reinstall",),
         next={"missing": "fix-reinstall", "damaged": "fix-reinstall", "ok": "permissions",
               "default": "fix-reinstall"}),
    Node("permissions", "Are the modes and owners of what boot needs right?",
         "The dynamic loader, libc, init and /bin/sh must be executable; /, /usr, /etc must be "
         "755 root:root; /tmp 1777. If the loader is not executable, no dynamic program runs, in "
         "the chroot either: repair it from the host side.",
         checks=("permissions",), fixes=("permissions-restore",),
         next={"wrong": "fix-permissions", "ok": "missing-files", "default": "fix-permissions"}),
    Node("damaged-files", "Are init's files damaged?",
         "A crash of init points at damaged binaries or libraries (a disk error, an interrupted "
         "update): verify the packages and reinstall those that fail.",
         checks=("packages",), fixes=("package-reinstall",),
         next={"default": "fix-reinstall"}),
    Node("fix-reinstall", "Reinstall the packages that own the damaged files",
         "Reinstall from the package cache (or the network) through the target's own package "
         "manager, inside the chroot.", fixes=("package-reinstall",)),
    Node("fix-permissions", "Restore modes and owners",
         "RPM systems: rpm --setperms and --setugids on the owning packages. Debian systems: the "
         "modes from the package archives.", fixes=("permissions-restore",)),
    # -- boot-time: filesystems, fstab, boot loader, SELinux -------------------------------
    Node("fstab-entries", "Does every fstab entry name a device that is there?",
         "systemd waits for every device in /etc/fstab and stops in emergency mode when one "
         "does not come. Data disks want nofail; an entry for a disk that is gone is commented "
         "out, never deleted.",
         checks=("fstab",), fixes=("fstab-nofail",),
         next={"missing-device": "fix-fstab", "ok": "fsck", "default": "fsck"}),
    Node("fix-fstab", "Add nofail, or comment the entry out",
         "For a data disk that may be absent: add nofail. For a disk that is gone: comment the "
         "line out. For a wrong UUID with one obvious right one: correct it.",
         fixes=("fstab-nofail", "fstab-correct-uuid")),
    Node("fsck", "Does a filesystem need repair?",
         "A filesystem check with no changes (e2fsck -n, xfs_repair -n) on each unmounted "
         "filesystem shows whether repair is needed. Never check a mounted filesystem.",
         checks=("filesystem",), fixes=("fsck",),
         next={"errors": "fix-fsck", "dirty-log": "fix-fsck", "bad-log": "fix-fsck",
               "ok": "previous-kernel", "default": "fix-fsck"}),
    Node("fix-fsck", "Repair the filesystem",
         "e2fsck -fy (with a backup superblock when the primary is damaged); for XFS mount once "
         "to replay the log, then xfs_repair; xfs_repair -L only after an explicit second "
         "confirmation, because it throws away the log and can lose recent changes.",
         fixes=("fsck", "fsck-zero-log")),
    # -- the boot loader: where GRUB stopped tells which part of the chain is broken ------------
    Node("grub-stage", "Where did the boot stop: firmware, GRUB's core, GRUB's menu, or later?",
         "The boot chain runs firmware, then GRUB's boot code (BIOS: the MBR; UEFI: the loader "
         "on the EFI system partition), then GRUB's core image, which loads its modules and "
         "grub.cfg from /boot, then the kernel. 'grub rescue>' means the core image ran but "
         "could not load its modules (normal.mod): reinstall GRUB. A bare 'grub>' prompt means "
         "GRUB is whole but found no grub.cfg: regenerate it. 'file not found' for vmlinuz or "
         "initrd means the menu names files that are gone. Firmware that stops (SeaBIOS after "
         "'Booting from Hard Disk...', OVMF in its Shell>) found no boot code or no loader.",
         checks=("boot-code", "esp", "bootloader"),
         next={"grub-rescue": "reinstall-grub", "grub-prompt": "grub-config",
               "no-loader": "reinstall-grub", "file-not-found": "bootloader-files",
               "boot-code-missing": "reinstall-grub", "boot-code-damaged": "reinstall-grub",
               "core-image-missing": "reinstall-grub", "modules-missing": "reinstall-grub",
               "no-esp": "reinstall-grub", "loader-missing": "reinstall-grub",
               "esp-unreadable": "reinstall-grub", "stub-wrong": "reinstall-grub",
               "config-missing": "grub-config", "no-entries": "grub-config",
               "kernel-missing": "bootloader-files", "initramfs-missing": "bootloader-files",
               "wrong-disk": "bootloader-files", "default": "bootloader-files"}),
    Node("reinstall-grub", "Reinstall GRUB on the disk",
         "BIOS: grub-install --target=i386-pc on the disk (never a partition, never another "
         "disk) writes the boot code into the MBR's first 440 bytes and the core image into the "
         "gap after it or the BIOS boot partition; the partition table is never written. UEFI: "
         "GRUB's EFI image goes to \\EFI\\<distro>\\ and to the fallback \\EFI\\BOOT\\BOOTX64.EFI, "
         "because a disk on a repair VM or with fresh NVRAM boots only the fallback. A damaged "
         "ESP filesystem is repaired first (fsck.vfat), never silently formatted.",
         checks=("boot-code", "esp"), fixes=("grub-reinstall", "grub-reinstall-uefi",
                                             "esp-fsck", "esp-boot-sector-restore",
                                             "esp-recreate")),
    Node("grub-config", "Regenerate grub.cfg and check root=",
         "grub-mkconfig (update-grub, grub2-mkconfig) writes the menu from /boot and "
         "/etc/default/grub. From a rescue host without udev it names the rescue host's device "
         "as root=: check root= right after, and set it to the root filesystem's UUID.",
         checks=("bootloader",), fixes=("bootloader-regenerate", "bootloader-root")),
    Node("bootloader-files", "Are the files the boot entry names there and whole?",
         "GRUB loads the kernel and initramfs named in grub.cfg from the /boot filesystem. Check "
         "that both exist for the default entry, that the kernel image verifies against its "
         "package, and that the entry names the right disk.",
         checks=("bootloader", "kernel-image", "initramfs"),
         fixes=("kernel-reinstall", "initramfs-rebuild", "bootloader-regenerate"),
         next={"kernel-damaged": "fix-kernel", "kernel-missing": "fix-kernel",
               "initramfs-missing": "fix-initramfs", "missing": "fix-initramfs",
               "truncated": "boot-space", "wrong-disk": "fix-bootloader",
               "ok": "previous-kernel", "default": "fix-kernel"}),
    Node("fix-kernel", "Reinstall the kernel package",
         "Reinstall the failing kernel's package: its hooks rebuild the initramfs and "
         "regenerate grub.cfg; check root= afterwards. Or boot the previous kernel meanwhile.",
         fixes=("kernel-reinstall", "previous-kernel")),
    Node("selinux-policy", "Is the SELinux policy installed and named right?",
         "With SELinux enforcing, systemd refuses to go on without a policy. Check "
         "/etc/selinux/config's SELINUXTYPE against the installed policy packages.",
         checks=("selinux",), fixes=("selinux-permissive", "selinux-relabel")),
    Node("module-signing", "Which module was rejected or failed to load, and why?",
         "Secure Boot lockdown refuses unsigned modules; a third-party driver built with DKMS "
         "must be signed with an enrolled key. systemd-modules-load fails on a module that "
         "/etc/modules-load.d (or /etc/modules) asks for when it was built for another kernel, "
         "is missing from the booted kernel's /lib/modules, or is for hardware that is not "
         "there. The console line names the module: rebuild or sign it for this kernel, or "
         "blacklist it (which also takes it out of the rebuilt initramfs) to boot.",
         fixes=("module-blacklist",)),
    # -- run-time panics ----------------------------------------------------------------------
    Node("runtime-previous-kernel", "Boot the previous kernel",
         "A panic while running (not while booting) is a kernel, driver or hardware fault. "
         "Booting the previous kernel tells which: if it runs, the newest kernel or a module "
         "built for it is at fault.",
         checks=("kernels",), fixes=("previous-kernel",),
         next={"default": "recent-changes"}),
    Node("recent-changes", "What changed last?",
         "The package history (dpkg.log, apt history, dnf/yum logs, zypper history) shows the "
         "kernel, driver and firmware updates that came right before the first panic "
         "(rescuetui reads them with the system's own logs).",
         checks=("target-logs",), next={"default": "module-review"}),
    Node("module-review", "Is a third-party module involved?",
         "Taint flags P (proprietary), O (out-of-tree) and E (unsigned) and a [module] in the "
         "call trace point at a driver outside the kernel: update or blacklist it.",
         fixes=("module-blacklist",),
         next={"default": "panic-settings"}),
    Node("panic-settings", "Review the panic settings",
         "kernel.panic_on_oops, softlockup_panic, hung_task_panic, panic_on_oom and unknown_nmi_"
         "panic turn a recoverable event into a panic; check which are set and why.",
         checks=("sysctl",), next={"default": "kdump"}),
    Node("kdump", "Make the next panic leave a dump",
         "Configure kdump (crashkernel= and the kdump service) and a serial console, so that the "
         "next panic leaves a vmcore and its dmesg for analysis.",
         fixes=("kdump-enable", "serial-console")),
    Node("hardware-evidence", "Look at the hardware evidence",
         "Machine checks and NMIs come from the hardware or the hypervisor: read the machine "
         "check records, the server's management log (IML, SEL) or the hypervisor's events; a "
         "deliberate NMI from the host also lands here.",
         checks=("target-logs",), next={"default": "kdump"}),
    Node("memory-review", "Why did memory run out?",
         "Look at what was using memory (the OOM report lists processes), at vm.panic_on_oom, and "
         "at whether the machine is simply too small for its work.",
         checks=("sysctl",), next={"default": "kdump"}),
    Node("who-triggered", "Who triggered the crash?",
         "A SysRq crash is deliberate: a kdump test, an administrator, a watchdog or the "
         "hypervisor. Nothing needs repair; confirm the dump was taken.",
         next={"default": "kdump"}),
    Node("stopping-parameters", "Which parameter stopped the boot?",
         "The console shows the boot stopping where it was told to: dracut's 'Break before "
         "switch_root' (rd.break), initramfs-tools' 'Spawning shell within the initramfs' "
         "(break=), a shell as PID 1 (init=/bin/bash). Read the 'Kernel command line:' line of "
         "the console, then every place the command line comes from: the boot entry in grub.cfg "
         "or the BLS entry, GRUB_CMDLINE_LINUX in /etc/default/grub, grubenv's kernelopts. "
         "Remove the parameter from all of them, or the next update-grub brings it back.",
         checks=("kernel-cmdline",), fixes=("kernel-cmdline",)),
    Node("gather-more", "Get more evidence",
         "Nothing matched a known failure. Every boot check still runs: the disk's boot code and "
         "the ESP (a console that stops at the firmware says no more than that), grub.cfg, the "
         "kernel command line (init=/bin/bash or rd.break left behind boots to a shell, not a "
         "login), the initramfs and its drivers. Capture the whole serial console from the start "
         "of the boot, read the system's own logs of the failed boot (the journal, kern.log), "
         "and enable the serial console and kdump so the next failure is visible.",
         checks=("target-logs",), fixes=("serial-console", "kdump-enable")),
)

NODES: dict[str, Node] = {n.id: n for n in _NODES}

ENTRY: dict[str, str] = {
    "vfs-root": "initramfs-present",
    "initramfs-root-missing": "root-device",
    "initramfs-corrupt": "boot-space",
    "init-killed": "init-exit-code",
    "oops": "runtime-previous-kernel",
    "kernel-bug": "runtime-previous-kernel",
    "lockup": "runtime-previous-kernel",
    "oom": "memory-review",
    "nmi-mce": "hardware-evidence",
    "sysrq-crash": "who-triggered",
    "module-sig": "module-signing",
    "fs-boot-error": "fstab-entries",
    "grub": "grub-stage",
    "selinux": "selinux-policy",
    "boot-stopped": "stopping-parameters",
    "unknown": "gather-more",
}


# Checks a node may name that are not among the boot checks (checks/__init__.py BOOT_CHECKS):
# where each one runs, as "module:function" (resolved by tests/test_diagnose.py).
CHECKS_ELSEWHERE = {
    "filesystem": "rescuetui.checks.filesystems:check_filesystem",  # before mounting
    "superblock": "rescuetui.checks.superblock:check_superblock",  # before mounting
    "default-kernel": "rescuetui.checks.default_kernel:check_default_kernel",
    "target-logs": "rescuetui.diagnose.target_logs:diagnose_target",  # with the diagnosis
}


def walk(class_id: str, findings: Mapping[str, str] | None = None,
         checks: Mapping[str, str] | None = None,
         unavailable: frozenset[str] | set[str] = frozenset(),
         checks_pending: bool = False) -> list[Node]:
    """The path from the class's entry node. At each node the console's finding for it, else
    its checks' words (`checks`: check id -> the word it reported), pick the next node; before
    the checks ran (`checks` is None) each node's `default` is taken. A fix in
    `unavailable` (the previous kernel where only one is installed) is not offered, and a
    last node left with nothing to offer is dropped. With `checks_pending` (a repair, whose
    checks are about to look) the walk stops at the first node its checks decide, rather than
    show a likeliest way they may overrule. Cycles are cut."""
    findings = findings or {}
    path: list[Node] = []
    node_id: str | None = ENTRY[class_id]
    while node_id is not None and node_id not in {n.id for n in path}:
        node = NODES[node_id]
        if unavailable and set(node.fixes) & set(unavailable):
            node = replace(node, fixes=tuple(f for f in node.fixes if f not in unavailable))
        path.append(node)
        finding = findings.get(node.id)
        if finding is None and checks_pending and _checks_decide(node):
            break
        finding = finding or _checks_say(node, checks)
        node_id = node.next.get(finding) or node.next.get("default")
    while len(path) > 1 and not path[-1].fixes and not path[-1].next:
        path.pop()
    return path


def _disk_checks(node: Node) -> list[str]:
    """The checks of a node that look at the disk in a repair (the boot checks, and the
    filesystem check before mounting); the others' findings come by other ways."""
    return [c for c in node.checks if c not in CHECKS_ELSEWHERE or c == "filesystem"]


def _checks_decide(node: Node) -> bool:
    """Whether checks on the disk choose this node's way on."""
    return bool(node.next) and bool(_disk_checks(node))


def _checks_say(node: Node, checks: Mapping[str, str] | None) -> str:
    """The branch a node's checks choose: the first word that is a branch; "ok" when every
    one of its checks that ran found nothing; "default" when they ran and chose nothing."""
    relevant = _disk_checks(node)
    if not relevant or not node.next or checks is None:
        return "default"
    words = [checks[c] for c in relevant if c in checks]
    for word in words:
        if word in node.next and word != "ok":
            return word
    if words and all(w == "ok" for w in words) and "ok" in node.next:
        return "ok"
    return "default"


def findings_from_evidence(class_id: str, exit_code: Mapping[str, Any] | None,
                           evidence: list[str]) -> dict[str, str]:
    """Findings the console text already settles, before any check runs on the disk."""
    text = "\n".join(evidence)
    if class_id == "init-killed" and exit_code:
        if exit_code["kind"] == "signal":
            return {"init-exit-code": "signal"}
        if exit_code.get("status") in (127, 126, 1):
            return {"init-exit-code": f"exit-{exit_code['status']}"}
    if class_id == "fs-boot-error":
        if any(w in text for w in ("fsck", "INCONSISTENCY", "-fs error", "XFS (", "BTRFS")):
            return {"fstab-entries": "ok"}  # a damaged filesystem, not a missing device
        if "Timed out waiting for device" in text or "Dependency failed" in text:
            return {"fstab-entries": "missing-device"}
    if class_id == "grub":
        if ("BdsDxe: failed to load" in text or "not a bootable disk" in text
                or "No bootable device" in text):
            return {"grub-stage": "no-loader"}
        if "grub rescue>" in text or "normal.mod" in text or "Entering rescue mode" in text:
            return {"grub-stage": "grub-rescue"}
        if "Minimal BASH-like line editing" in text and "not found" not in text:
            return {"grub-stage": "grub-prompt"}
        if "not found" in text:
            found = {"grub-stage": "file-not-found"}
            if "initrd" in text or "initramfs" in text:
                found["bootloader-files"] = "initramfs-missing"
            return found
        if "initrd" in text or "initramfs" in text:
            return {"bootloader-files": "initramfs-missing"}
        if "Loading" in text:  # handed over to a kernel that never spoke
            return {"bootloader-files": "kernel-damaged"}
    return {}
