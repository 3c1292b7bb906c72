"""Panic and boot-failure signatures, as data: what each failure class looks like on a console.

Each signature is a regular expression over one console line (escape sequences, CRs and NULs
already removed). `rank` orders classes found in the same boot by how close they are to the
root cause: an initramfs that failed to unpack explains the VFS panic that follows it, a
filesystem error explains the emergency mode that follows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PanicSignature:
    class_id: str
    pattern: str
    rank: int  # higher wins when several classes appear in the failing boot
    phase: str | None = None  # "initrd": counts only before the switch to the real root

    @property
    def regex(self) -> re.Pattern[str]:
        return _compiled(self.pattern)


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern not in _CACHE:
        _CACHE[pattern] = re.compile(pattern)
    return _CACHE[pattern]


@dataclass(frozen=True)
class PanicClass:
    id: str
    title: str
    meaning: str


CLASSES: dict[str, PanicClass] = {c.id: c for c in (
    PanicClass("vfs-root", "The kernel could not mount the root filesystem",
               "The kernel itself tried to mount root= and failed: no initramfs was loaded, "
               "the initramfs lacks the driver for the root disk or filesystem, or root= names "
               "a device that does not exist. unknown-block(0,0) means no block device at all."),
    PanicClass("initramfs-root-missing", "The initramfs never found the root device",
               "The initramfs ran and waited for the root device, which never appeared: a wrong "
               "UUID in root= or fstab, a missing storage driver in the initramfs, an LVM or "
               "LUKS device not opened, or a filesystem too damaged to be recognised."),
    PanicClass("initramfs-corrupt", "The initramfs is damaged",
               "The kernel could not unpack the initramfs image: it is truncated (a full /boot, "
               "an interrupted update) or corrupt. Rebuild it for the failing kernel."),
    PanicClass("init-killed", "init (PID 1) died",
               "The kernel started /sbin/init and it exited. The exit code says why: 0x7f00 "
               "(exit 127) a missing program or library, 0x7e00 (exit 126) not executable, "
               "0x0b SIGSEGV a crash; often damaged or missing files of systemd, libc or the "
               "dynamic loader, or wrong permissions on them."),
    PanicClass("oops", "The kernel crashed (Oops)",
               "Kernel code dereferenced a bad pointer or hit an invalid state. Usually a kernel "
               "or module bug, sometimes bad memory. Boot the previous kernel; see which module "
               "the call trace names."),
    PanicClass("kernel-bug", "The kernel hit a BUG() assertion",
               "A sanity check inside the kernel failed (kernel BUG at file:line). A kernel or "
               "module bug: boot the previous kernel and look for an update that fixes it."),
    PanicClass("lockup", "A CPU or task locked up",
               "A CPU stopped scheduling (soft lockup), stopped taking interrupts (hard lockup), "
               "or tasks hung on I/O, and the panic-on-lockup settings turned it into a panic. "
               "Look at storage and hypervisor health and the sysctl panic settings."),
    PanicClass("oom", "Out of memory",
               "The system ran out of memory with nothing left to kill, or panic_on_oom is set. "
               "Review memory size, runaway processes and vm.panic_on_oom."),
    PanicClass("nmi-mce", "Hardware error (NMI or machine check)",
               "The hardware or hypervisor raised a non-maskable interrupt or a machine check: "
               "memory, CPU or PCI errors, or an NMI sent on purpose to crash a hung guest. "
               "Check the hardware logs (IML, SEL) and the hypervisor."),
    PanicClass("sysrq-crash", "A crash was triggered on purpose (SysRq c)",
               "Someone or something wrote 'c' to /proc/sysrq-trigger: a test of kdump, or a "
               "watchdog. Nothing is broken by itself; find out who triggered it."),
    PanicClass("module-sig", "A kernel module was rejected or failed to load",
               "Secure Boot lockdown or module signature enforcement refused an unsigned or "
               "wrongly signed module (often a third-party driver built with DKMS), or "
               "systemd-modules-load could not load a module that modules-load.d asks for: "
               "built for another kernel, missing from /lib/modules of the booted kernel, or "
               "for hardware that is not there."),
    PanicClass("fs-boot-error", "A filesystem or mount failed during boot",
               "A filesystem has errors, a boot-time fsck failed, or a device in /etc/fstab did "
               "not appear, so systemd stopped in emergency mode or the initramfs dropped to a "
               "shell. Check the filesystem unmounted and every fstab entry."),
    PanicClass("grub", "The boot loader failed",
               "GRUB could not find or load the kernel or initramfs it was told to: a missing or "
               "damaged file, a wrong disk or UUID in grub.cfg, or a damaged GRUB install (its "
               "modules or config gone), or the firmware found no boot loader at all."),
    PanicClass("selinux", "SELinux stopped the boot",
               "systemd could not load the SELinux policy while SELinux is enforcing: a missing "
               "or broken policy package, or a wrong SELINUXTYPE in /etc/selinux/config."),
    PanicClass("boot-stopped", "The boot was told to stop",
               "Nothing failed: a parameter on the kernel command line stopped the boot on "
               "purpose, as debugging or a password reset leaves it. init=/bin/bash runs a "
               "shell instead of init; rd.break, rd.shell and rd.emergency stop dracut's "
               "initramfs in its emergency shell, break= stops initramfs-tools'; single and "
               "systemd.unit=emergency.target stop systemd. Remove it from the boot entry and "
               "from where the entry is made (/etc/default/grub, BLS entries, grubenv)."),
    PanicClass("unknown", "No known failure pattern",
               "Nothing in the text matches a known failure. The most suspicious lines are "
               "shown; a longer log (from the start of the boot) or the system's own logs may "
               "say more."),
)}

SIGNATURES: tuple[PanicSignature, ...] = (
    # boot loader
    PanicSignature("grub", r"error: (?:file [`'\"].*[`'\"] not found|you need to load the kernel "
                   r"first|no such (?:device|partition)|unknown filesystem|disk [`'\"].*[`'\"] "
                   r"not found|invalid magic number|premature end of file|out of memory|"
                   r"attempt to read or write outside of (?:disk|partition)|"
                   r"symbol [`'\"].*[`'\"] not found|can't find command)", 40),
    PanicSignature("grub", r"^[ \t]*grub rescue>|Entering rescue mode\.\.\.", 45),
    # GRUB whole but without a config: its bare prompt.
    PanicSignature("grub", r"Minimal BASH-like line editing is supported", 35),
    # The firmware found no loader: OVMF falls through to its shell, SeaBIOS gives up.
    PanicSignature("grub", r"BdsDxe: failed to load Boot\S+ .*: Not Found|"
                   r"Boot failed: not a bootable disk|No bootable device", 35),
    # initramfs problems
    PanicSignature("initramfs-corrupt", r"Initramfs unpacking failed|initramfs unpacking failed"
                   r"|Initial ramdisk unpacking failed|RAMDISK: incomplete write|"
                   r"RAMDISK: EOF while reading compressed data|"
                   r"junk in compressed archive|invalid compressed format", 90),
    PanicSignature("initramfs-root-missing", r"ALERT!\s+\S+ does not exist\.|"
                   r"Gave up waiting for (?:root|suspend/resume) (?:file system )?device|"
                   r"dracut-initqueue(?:\[\d+\])?: (?:Warning: )?(?:dracut-initqueue:? )?timeout|"
                   r"Dependency failed for (?:Initrd Root (?:File System|Device)|/sysroot)|"
                   r"Could not boot\.|/dev/mapper/\S+ does not exist|"
                   r"Warning: /dev/\S+ does not exist|"
                   r"Failed to start .*(?:sysroot\.mount|File System Check on /dev/disk)|"
                   r"Unable to find LVM volume|Volume group \"\S+\" not found", 70),
    # A time-out for a device by UUID is ambiguous (an fstab data disk times out the same way
    # after the switch to the real root): the initrd's own "Initrd Root" and /sysroot
    # dependencies above tell. These names exist only for the root.
    PanicSignature("initramfs-root-missing", r"Timed out waiting for device .*(?:gpt-auto-root|"
                   r"dev-root\b|/dev/root\b)", 70, phase="initrd"),
    PanicSignature("vfs-root", r"VFS: Unable to mount root fs|VFS: Cannot open root device|"
                   r"Please append a correct \"root=\" boot option|"
                   r"No filesystem could mount root", 60),
    # init
    # "No init found." is the kernel's wording before 3.x, "No working init found." after.
    PanicSignature("init-killed", r"Attempted to kill init!|No (?:working )?init found|"
                   r"Requested init \S+ failed|run-init: (?:can't execute|opening console|\S+: )|"
                   r"Failed to execute /\S*init|switch_root: failed to execute|"
                   r"Target filesystem doesn't have requested /sbin/init", 80),
    # The command line stopped the boot: dracut's rd.break=HOOK, initramfs-tools' break=, and a
    # shell run as init (bash says it has no terminal to control, being PID 1 on a console).
    PanicSignature("boot-stopped", r"Warning: Break before \S+|"
                   r"Spawning shell within the initramfs|bash: no job control in this shell", 30),
    # run-time panics
    # x86 reports BUG() as an invalid opcode (ud2); a quoted trace may lack the BUG line.
    PanicSignature("kernel-bug", r"kernel BUG at \S+:\d+!?|invalid opcode: 0000 \[#\d+\]", 85),
    PanicSignature("oops", r"BUG: unable to handle (?:kernel )?(?:NULL pointer dereference|"
                   r"paging request|page fault)|Oops: \d{4}|Oops: |Fatal exception|"
                   r"general protection fault:|Unable to handle kernel (?:NULL pointer "
                   r"dereference|paging request)|stack-protector: Kernel stack is corrupted|"
                   r"BUG: kernel NULL pointer dereference", 75),
    PanicSignature("lockup", r"soft lockup - CPU#\d+ stuck|Watchdog detected hard LOCKUP|"
                   r"hung_task: blocked tasks|softlockup: hung tasks|"
                   r"hard LOCKUP|rcu_sched self-detected stall|"
                   r"blocked for more than \d+ seconds", 65),
    PanicSignature("oom", r"Out of memory and no killable processes|System is deadlocked on "
                   r"memory|compulsory panic_on_oom|Out of memory: (?:system-wide )?panic_on_oom|"
                   r"Out of memory: Kill(?:ed)? process", 55),
    # A machine check is also reported the old x86 way ("CPU 0: Machine Check Exception:
    # ... Kernel panic: CPU context corrupt", no "[Hardware Error]") and, on powerpc, through
    # an Oops line ("Oops: Machine check, sig: 7"): it outranks the oops it looks like.
    PanicSignature("nmi-mce", r"NMI IOCK error|NMI: IOCK error|Uhhuh\. NMI received|"
                   r"NMI: PCI system error|Not continuing|Fatal [Mm]achine check|"
                   r"Machine check: |Integrated Management Log|Timeout: Not all CPUs entered "
                   r"broadcast exception handler|Hardware Error|NMI watchdog: Watchdog detected|"
                   r"Kernel panic - not syncing: NMI|Machine Check Exception|"
                   r"Machine check in kernel mode|Oops: [Mm]achine check|CPU context corrupt", 86),
    PanicSignature("sysrq-crash", r"[Ss]ys[Rr]q ?: Trigger a crash|sysrq triggered crash", 95),
    PanicSignature("module-sig", r"module verification failed|Lockdown: .*unsigned module|"
                   r"Loading of unsigned module is (?:rejected|restricted)|"
                   r"PKCS#7 signature not signed with a trusted key|"
                   r"Key was rejected by service|module: x86/modules: Skipping invalid", 50),
    # A module that fails to load shows only as systemd-modules-load's failure (the unit's
    # name is shortened on narrow consoles: "systemd-mo.service - Load Kernel Modules").
    PanicSignature("module-sig", r"Failed to start (?:\S+ - )?Load Kernel Modules|"
                   r"systemd-modules-load\[\d+\]: (?:Failed to (?:insert|find)|"
                   r"modprobe: (?:ERROR|FATAL))", 50),
    # filesystems and mounts during boot
    # The kernel's own reports of a damaged filesystem, and boot-time fsck failures as each
    # init words them: systemd, initramfs-tools and BusyBox, dracut, SysV rc scripts, NixOS.
    PanicSignature("fs-boot-error", r"EXT[234]-fs (?:error|\(\S+\): error)|"
                   r"XFS \(\S+\): (?:Corruption|[Mm]etadata (?:corruption|CRC error|I/O error)|"
                   r"Internal error|log I/O error|Filesystem has been shut down)|"
                   r"Unmount and run xfs_repair|UNEXPECTED INCONSISTENCY; RUN fsck|"
                   r"fsck (?:exited with status code|died with exit status) [1-9]|"
                   r"fsck on \S+ failed|Failed to start File System Check|"
                   r"File system check of the root filesystem failed|"
                   r"An automatic file system check \(fsck\) of the root filesystem failed|"
                   r"An error occurred during the file system check|"
                   r"Timed out waiting for device|Dependency failed for |"
                   r"You are in emergency mode|Welcome to emergency mode|"
                   r"Give root password for maintenance|BTRFS (?:error|critical)|"
                   r"Failed to mount /|requires a manual fsck", 48),
    # SELinux
    PanicSignature("selinux", r"Failed to load SELinux policy|SELinux: +Could not (?:load|open) policy|"
                   r"SELinux: .*policy .*(?:failed|invalid)|SELinux:  failed to load policy|"
                   r"Initial SELinux policy load failed|Can't load policy and enforcing mode", 88),
)

# Any of these, where no signature matches, marks a line worth showing for `unknown`.
SUSPICIOUS = r"[Ee]rror|ERROR|[Ff]ail|FAIL|[Ww]arning|[Ff]atal|Call Trace|Unable to|[Cc]annot |panic"
