"""mount(2) and umount2(2) called directly: a mount costs microseconds instead of a process.

A rescue run makes a dozen mounts and as many unmounts; spawning mount(8) for each one was most
of the time to a ready chroot (bench/mount_chroot.py). The option words are those of mount(8).
"""

from __future__ import annotations

import ctypes
import errno
import os

from rescuetui.core.tools import ToolError

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_DIRSYNC = 128
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_SILENT = 32768
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

_FLAG_WORDS = {
    "ro": MS_RDONLY, "rw": 0, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
    "sync": MS_SYNCHRONOUS, "dirsync": MS_DIRSYNC, "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME,
    "bind": MS_BIND, "rbind": MS_BIND | MS_REC, "remount": MS_REMOUNT, "silent": MS_SILENT,
    "defaults": 0, "async": 0, "suid": 0, "dev": 0, "exec": 0, "atime": 0,
}
_EXPLAIN = {
    errno.ENODEV: "unknown filesystem type (this kernel cannot mount it)",
    errno.EINVAL: "wrong filesystem type, bad option or bad superblock",
    errno.EBUSY: "already mounted or busy",
    errno.EACCES: "the device is write-protected",
    errno.EROFS: "the device is read-only",
    errno.ENOENT: "the mount point or the device does not exist",
    errno.ENOTBLK: "not a block device",
    errno.EUCLEAN: "the filesystem is corrupted and needs fsck",
    errno.EIO: "input/output error reading the device",
    errno.ENOTDIR: "the mount point is not a directory",
    errno.EPERM: "permission denied (run as root)",
}

# The C library this interpreter already has loaded (find_library would spawn ldconfig).
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)


def split_options(options: list[str]) -> tuple[int, str]:
    """mount(8) option words to mount(2) flags plus the filesystem's own data string."""
    flags = 0
    data = []
    for option in options:
        if option in _FLAG_WORDS:
            flags |= _FLAG_WORDS[option]
        elif option:
            data.append(option)
    return flags, ",".join(data)


class SyscallError(ToolError):
    """A mount(2) or umount2(2) call failed; `stderr` holds the explanation mount(8) would give."""

    def __init__(self, argv: list[str], err: int) -> None:
        super().__init__(argv, err, _EXPLAIN.get(err, os.strerror(err)))
        self.errno = err
        self.args = (f"`{' '.join(argv)}` failed: {self.stderr}",)

    def __str__(self) -> str:
        return str(self.args[0])


def _fail(argv: list[str], err: int) -> SyscallError:
    return SyscallError(argv, err)


def mount(source: str, target: str, fstype: str | None, options: list[str], *,
          shown_at: str | None = None) -> None:
    """mount(2). `target` may be a directory descriptor's `/proc/self/fd/N` (a mount point
    opened inside a target's root, so that no link swapped in can move the mount elsewhere);
    `shown_at` is then the path the new mount is seen at, for the remount a read-only bind
    needs (the descriptor's path keeps naming the directory beneath the mount)."""
    flags, data = split_options(options)
    argv = ["mount", *(["-t", fstype] if fstype else []),
            *(["-o", ",".join(options)] if options else []), source, shown_at or target]
    fs = None if flags & MS_BIND else (fstype or "").encode() or None
    if _libc.mount(os.fsencode(source), os.fsencode(target), fs, flags,
                   data.encode() if data and not flags & MS_BIND else None) != 0:
        raise _fail(argv, ctypes.get_errno())
    if flags & MS_BIND and flags & MS_RDONLY:
        # The kernel ignores read-only on the first bind call; it takes a remount to apply it.
        remount(shown_at or target, options)


def remount(target: str, options: list[str]) -> None:
    flags, data = split_options(options)
    flags |= MS_REMOUNT
    argv = ["mount", "-o", ",".join(["remount", *options]), target]
    if _libc.mount(None, os.fsencode(target), None, flags, data.encode() or None) != 0:
        raise _fail(argv, ctypes.get_errno())


def umount(target: str, *, lazy: bool = False) -> None:
    if _libc.umount2(os.fsencode(target), MNT_DETACH if lazy else 0) != 0:
        err = ctypes.get_errno()
        raise _fail(["umount", *(["--lazy"] if lazy else []), target], err)
