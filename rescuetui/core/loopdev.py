"""Loop devices by the kernel's own interface (LOOP_CTL_GET_FREE, LOOP_CONFIGURE, LOOP_CLR_FD),
as losetup does it, without starting losetup twice per run; losetup where the kernel is older
than LOOP_CONFIGURE (5.8)."""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import time

from rescuetui.core.errors import RescueError

LOOP_CLR_FD = 0x4C01
LOOP_CONFIGURE = 0x4C0A
LOOP_CTL_GET_FREE = 0x4C82
LO_FLAGS_READ_ONLY = 1
LO_FLAGS_PARTSCAN = 8
# struct loop_config { __u32 fd; __u32 block_size; struct loop_info64 info; __u64 reserved[8]; }
# struct loop_info64 { __u64 device, inode, rdevice, offset, sizelimit; __u32 number,
#   encrypt_type, encrypt_key_size, flags; __u8 file_name[64], crypt_name[64], encrypt_key[32];
#   __u64 init[2]; }
_LOOP_CONFIG = struct.Struct("=II QQQQQ IIII 64s64s32s QQ 8Q")
_ATTEMPTS = 20  # another program may take the free device between the two calls


class LoopUnsupported(Exception):
    """The kernel has no LOOP_CONFIGURE: use losetup."""


def attach(image: str, *, read_only: bool = False, sizelimit: int = 0) -> tuple[str, bool]:
    """Attach `image` to a free loop device with its partitions scanned: the device, and
    whether it was attached read-only (asked, or the image cannot be written: what losetup
    does too)."""
    try:
        backing = os.open(image, (os.O_RDONLY if read_only else os.O_RDWR) | os.O_CLOEXEC)
    except OSError as exc:
        if read_only or exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise RescueError(f"The disk image {image} cannot be opened: {exc.strerror}.") from exc
        backing, read_only = os.open(image, os.O_RDONLY | os.O_CLOEXEC), True
    try:
        flags = LO_FLAGS_PARTSCAN | (LO_FLAGS_READ_ONLY if read_only else 0)
        config = _LOOP_CONFIG.pack(backing, 0, 0, 0, 0, 0, sizelimit, 0, 0, 0, flags,
                                   os.fsencode(image)[:63], b"", b"", 0, 0, *([0] * 8))
        control = _open("/dev/loop-control")
        try:
            for _ in range(_ATTEMPTS):
                number = fcntl.ioctl(control, LOOP_CTL_GET_FREE)
                device = f"/dev/loop{number}"
                if _configure(device, config):
                    return device, read_only
        finally:
            os.close(control)
    finally:
        os.close(backing)
    raise RescueError("No free loop device could be taken (others kept taking them); try again.")


def detach(device: str, *, wait: float = 10.0) -> bool:
    """Detach a loop device and read back that the kernel let it go; False if it was not
    attached. A device still in use (a filesystem on it that a dying sandbox's mount namespace
    still holds) is only marked to be detached when its last user closes it, as `losetup
    --detach` does: wait up to `wait` seconds for that, and say so if it does not come."""
    try:
        fd = _open(device, wait=False)
    except FileNotFoundError:
        return False
    try:
        fcntl.ioctl(fd, LOOP_CLR_FD)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            return False
        raise RescueError(f"Loop device {device} could not be detached: {exc.strerror}.") from exc
    finally:
        os.close(fd)
    deadline = time.monotonic() + wait
    while is_bound(device):
        if time.monotonic() > deadline:
            raise RescueError(f"Loop device {device} is still in use after {wait:.0f} s "
                              f"({_users(device)}); the kernel detaches it when its last user "
                              "closes it.")
        time.sleep(0.01)
    return True


def is_bound(device: str) -> bool:
    """Whether a loop device still has a backing file (the kernel's own record, in sysfs)."""
    return os.path.exists(f"/sys/block/{os.path.basename(device)}/loop/backing_file")


def partitions(device: str) -> list[str]:
    """The names of a loop device's partitions the kernel knows (sysfs)."""
    name = os.path.basename(device)
    try:
        return [part for part in os.listdir(f"/sys/class/block/{name}")
                if part.startswith(name + "p")]
    except FileNotFoundError:  # gone
        return []


def _users(device: str) -> str:
    """Who holds a loop device or one of its partitions open, for a message."""
    ours = {device} | {f"/dev/{part}" for part in partitions(device)}
    holders: list[str] = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in ours
                   for fd in os.listdir(f"/proc/{pid}/fd")):
                with open(f"/proc/{pid}/comm") as f:
                    holders.append(f"{f.read().strip()} [{pid}]")
        except OSError:
            continue
    if holders:
        return "open in " + ", ".join(holders)
    return "a filesystem on it is still mounted, maybe in a sandbox that is ending"


def _configure(device: str, config: bytes) -> bool:
    """Bind the backing file to `device`; False if another program took it first."""
    fd = _open(device)
    try:
        fcntl.ioctl(fd, LOOP_CONFIGURE, config)
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            return False
        if exc.errno in (errno.EINVAL, errno.ENOTTY):
            raise LoopUnsupported(device) from exc
        raise RescueError(f"{device} could not be set up: {exc.strerror}.") from exc
    finally:
        os.close(fd)
    return True


def _open(path: str, *, wait: bool = True) -> int:
    """Open a device node, waiting briefly (`wait`) for devtmpfs to create a new one."""
    deadline = time.monotonic() + 2.0
    while True:
        try:
            return os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            if not wait:
                raise
            if time.monotonic() > deadline:
                raise RescueError(f"{path} did not appear; is the loop driver loaded "
                                  "(`modprobe loop`)?") from None
            time.sleep(0.01)
        except OSError as exc:
            raise RescueError(f"{path} cannot be opened: {exc.strerror}.") from exc
