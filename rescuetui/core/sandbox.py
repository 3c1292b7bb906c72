"""The sandbox a command inside the target runs in: bubblewrap namespaces plus a seccomp filter.

A package script of the target is the disk's code running as root. arch-chroot and Anaconda give
it the host's /dev (every disk), the host's /proc (`/proc/1/root` is the host's root) and
efivarfs; rescuetui gives it instead (guestfs-security(1): the disk is data, never authority):
- its own mount, PID, IPC and UTS namespaces (bubblewrap: a well-kept tool that pivots into the
  target's root and detaches the host's, so no chroot escape leads back; systemd-nspawn keeps
  CAP_SYS_ADMIN and, outside a systemd unit, no device cgroup: a devtmpfs mount inside it showed
  the host's disks here);
- a private /dev with null, zero, full, random, urandom, tty, ptmx, pts and shm only, plus the
  chosen disk's own nodes (grub-install and update-grub's probing need them);
- /proc of its own PID namespace, with the kernel's global knobs read-only (/proc/sys: a
  writable core_pattern runs a program on the host; sysrq-trigger; kcore hidden);
- /sys read-only and efivarfs hidden, unless a step says it writes NVRAM;
- a fresh tmpfs /run (never the host's sockets), the host's resolv.conf read-only where the
  target looks for it;
- a seccomp filter (libseccomp through pyseccomp) that refuses what bubblewrap, run by root
  without a user namespace, cannot take away (it keeps every capability then, measured here):
  mounting (a devtmpfs would bring every host disk back, a remount would make /sys writable),
  modules, kexec, swap, raw I/O ports, open_by_handle_at (which reaches past a bind mount),
  new namespaces, BPF, the clock and the kernel log.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rescuetui.core.errors import RescueError

BWRAP = "bwrap"
EFIVARS = "/sys/firmware/efi/efivars"
# What the sandbox's command may not do (each refused with EPERM): see the module's docstring.
DENIED_SYSCALLS = (
    "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "init_module", "finit_module", "delete_module",
    "kexec_load", "kexec_file_load", "swapon", "swapoff", "iopl", "ioperm",
    "open_by_handle_at", "name_to_handle_at", "bpf", "perf_event_open", "unshare", "setns",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "acct", "quotactl",
    "syslog", "vhangup", "keyctl", "add_key", "request_key", "userfaultfd", "uselib",
    "lookup_dcookie", "reboot",
)
# The kernel's global knobs inside /proc: read-only in the sandbox.
PROC_READ_ONLY = ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs",
                  "/proc/acpi")
# The target's own directories the sandbox mounts over: real directories, never links.
MOUNT_POINTS = ("/dev", "/proc", "/sys", "/run")

_filter_cache: bytes | None = None


def seccomp_filter() -> bytes:
    """The compiled BPF program: made once per boot of the rescue system and kept on its
    /run (compiling it loads libseccomp and spawns ldconfig: a third of a quick `run`)."""
    global _filter_cache
    if _filter_cache is None:
        import zlib

        from rescuetui.core.state import STATE_BASE

        key = zlib.crc32(repr((DENIED_SYSCALLS, os.uname().machine)).encode())
        cached = STATE_BASE / f"seccomp-{key:08x}.bpf"
        try:
            _filter_cache = cached.read_bytes()
            if not _filter_cache or len(_filter_cache) % 8:
                raise OSError("not a BPF program")
        except OSError:
            _filter_cache = _compile_filter()
            with contextlib.suppress(OSError):
                STATE_BASE.mkdir(mode=0o700, parents=True, exist_ok=True)
                partial = cached.with_suffix(f".{os.getpid()}")
                partial.write_bytes(_filter_cache)
                partial.replace(cached)
    return _filter_cache


def _compile_filter() -> bytes:
    import tempfile

    import pyseccomp as seccomp

    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    # 32-bit programs (the i386 table) get the same rules rather than a way around them.
    if seccomp.system_arch() == seccomp.Arch.X86_64:
        f.add_arch(seccomp.Arch.X86)
    for name in DENIED_SYSCALLS:
        try:
            f.add_rule(seccomp.ERRNO(errno.EPERM), name)
        except (ValueError, RuntimeError, OSError):
            continue  # a call this libseccomp does not know does not exist here either
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        return out.read()


@dataclass
class Sandbox:
    """How commands inside one target are confined (the argv of bubblewrap around them)."""

    root: Path
    devices: list[str] = field(default_factory=list)  # the chosen disk's nodes, host paths
    resolv_conf: str | None = None  # where in the target the host's DNS goes, if anywhere

    def argv(self, command: Sequence[str], *, seccomp_fd: int, interactive: bool = False,
             nvram: bool = False) -> list[str]:
        out = [BWRAP, "--bind", str(self.root), "/",
               "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
               "--hostname", "rescuetui-target", "--die-with-parent",
               "--dev", "/dev", "--proc", "/proc"]
        for path in PROC_READ_ONLY:
            if os.path.exists(path):
                out += ["--ro-bind", path, path]
        if os.path.exists("/proc/kcore"):
            out += ["--ro-bind", "/dev/null", "/proc/kcore"]  # nodev there: opens nothing
        out += ["--ro-bind", "/sys", "/sys"]
        if os.path.isdir(EFIVARS):
            out += (["--bind", EFIVARS, EFIVARS] if nvram else ["--tmpfs", EFIVARS])
        out += ["--tmpfs", "/run"]
        host_resolv = os.path.realpath("/etc/resolv.conf")
        if self.resolv_conf and os.path.isfile(host_resolv):
            out += ["--ro-bind", host_resolv, self.resolv_conf]
        for node in self.devices:
            out += ["--dev-bind", node, node]
        if not interactive:
            # No controlling terminal: nothing inside can push keystrokes into the operator's.
            out.append("--new-session")
        out += ["--seccomp", str(seccomp_fd), "--chdir", "/", "--", *command]
        return out


def check_sandbox_tools() -> None:
    if shutil.which(BWRAP) is None:
        raise RescueError("bubblewrap (`bwrap`) is not installed on the rescue system; commands "
                          "inside the target run only in its sandbox. Install the `bubblewrap` "
                          "package (see README) and try again.")


def seccomp_memfd() -> int:
    """A descriptor holding the filter, to hand to bubblewrap's --seccomp (caller closes it)."""
    fd = os.memfd_create("rescuetui-seccomp", 0)  # inherited: no MFD_CLOEXEC
    data = seccomp_filter()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
