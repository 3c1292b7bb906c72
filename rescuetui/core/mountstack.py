"""Every loop device and mount a run makes, recorded in order and undone in reverse."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from rescuetui.core import loopdev, syscalls
from rescuetui.core.errors import RescueError
from rescuetui.core.mountinfo import current_mounts, mounts_below
from rescuetui.core.probe import probe_device
from rescuetui.core.state import MountRecord, SessionState
from rescuetui.core.tools import ToolError, tool

VHD_FOOTER_COOKIE = b"conectix"
# Mount options that keep a read-only look at a filesystem from writing anything, even a
# journal replay: used when probing disks the operator has not chosen.
NO_WRITE_OPTIONS = {"ext3": ["noload"], "ext4": ["noload"], "xfs": ["norecovery"]}

KEPT_ON_REMOUNT = ("nosuid", "nodev", "noexec")


class MountStack:
    """Mounts and loop devices of one run. Each is written to the state file before the next,
    so `teardown` here, or `rescuetui cleanup` after a kill -9, can take them all down."""

    def __init__(self, state: SessionState) -> None:
        self.state = state

    @property
    def records(self) -> list[MountRecord]:
        return self.state.mounts

    # -- loop devices -------------------------------------------------------------------------

    def attach_image(self, image: Path, *, read_only: bool = False) -> str:
        """Attach a raw disk image (or fixed VHD) to a loop device with its partitions."""
        if not image.is_file():
            raise RescueError(f"The disk image {image} does not exist or is not a regular file.")
        size = image.stat().st_size
        sizelimit = 0
        if _has_vhd_footer(image, size):
            # A fixed VHD is a raw image with a 512-byte footer; keep the footer out of reach.
            sizelimit = size - 512
        elif _is_dynamic_vhd(image):
            raise RescueError(
                f"{image} is a dynamic VHD; convert it first: "
                f"qemu-img convert -O raw {image} {image.with_suffix('.raw')}"
            )
        try:
            device, _ = loopdev.attach(str(image), read_only=read_only, sizelimit=sizelimit)
        except loopdev.LoopUnsupported:
            args = ["--find", "--show", "--partscan", *(["--read-only"] if read_only else []),
                    *(["--sizelimit", str(sizelimit)] if sizelimit else [])]
            device = tool("losetup", *args, str(image)).strip()
        self.state.loops.append(device)
        self.state.save()
        # --partscan has the kernel read the table before losetup returns; where it does not
        # (some kernels leave a loop device's partitions alone), partx asks for them directly.
        if not loopdev.partitions(device):
            with contextlib.suppress(ToolError):
                tool("partx", "-u", device)
        _wait_for_partitions(device)
        return device

    # -- mounts -------------------------------------------------------------------------------

    def mount(
        self,
        source: str,
        target: Path,
        *,
        fstype: str | None = None,
        options: list[str] | None = None,
        kind: str,
        via: str | None = None,
        source_via: str | None = None,
    ) -> MountRecord:
        """Mount `source` at `target`. With `via` (a `/proc/self/fd/N` of the mount point's
        directory, opened inside a target's root: core/mountpoint.py) the mount goes onto that
        very directory and `target` is only where it is recorded (its host path, for
        teardown); `source_via` is the same for a bind mount's source."""
        options = list(options or [])
        if fstype == "xfs" and "nouuid" not in options and _xfs_uuid_in_use(source):
            options.append("nouuid")
        syscalls.mount(source_via or source, via or str(target), fstype, options,
                       shown_at=str(target) if via else None)
        record = MountRecord(source, str(target), fstype, options, kind)
        self.state.mounts.append(record)
        self.state.save()
        return record

    def remount(self, record: MountRecord, writable: bool) -> None:
        mode = "rw" if writable else "ro"
        bind = ["bind"] if "bind" in record.options else []
        # mount(2) with MS_REMOUNT sets the per-mount flags anew: those the mount was made with
        # (nosuid, nodev on a target's filesystems) are given again or they are lost.
        kept = [o for o in record.options if o in KEPT_ON_REMOUNT]
        syscalls.remount(record.target, [*bind, *kept, mode])
        record.options = [o for o in record.options if o not in ("ro", "rw")] + [mode]
        self.state.save()

    def unmount_last(self) -> None:
        record = self.state.mounts[-1]
        _unmount(Path(record.target))
        self.state.mounts.pop()
        self.state.save()

    def teardown(self) -> list[str]:
        """Unmount in reverse order and detach loop devices; return what could not be undone."""
        return teardown_state(self.state)


def teardown_state(state: SessionState) -> list[str]:
    """Take down everything a session state records. Used by a live run and by cleanup."""
    problems: list[str] = []
    kill_processes_inside(state.directory)  # a sandbox still running holds the target's mounts
    let_go_of_own_descriptors(state.directory)
    for record in reversed(list(state.mounts)):
        try:
            _unmount(Path(record.target))
        except RescueError as exc:
            problems.append(str(exc))
        state.mounts.remove(record)
        state.save()
    # Anything still mounted below the session directory (a mount a killed run made before it
    # could record it, or one a chroot command made) goes too.
    for leftover in reversed(mounts_below(state.directory)):
        try:
            _unmount(Path(leftover.mountpoint))
        except RescueError as exc:
            problems.append(str(exc))
    for close in reversed(list(state.opened)):
        try:
            tool(*close)
        except RescueError as exc:
            # Kept, with every step before it (each needs the ones after it done first): the
            # next `rescuetui cleanup` tries again. An LVM copy's identity is put back only by
            # these steps, and its backup file stays until they succeed.
            problems.append(f"Could not close an opened volume: {exc}. `rescuetui cleanup` "
                            "tries again once the cause is gone.")
            break
        state.opened.remove(close)
        state.save()
    for loop in reversed(list(state.loops)):
        try:
            loopdev.detach(loop)
        except RescueError as exc:
            problems.append(f"{exc} Run `rescuetui cleanup` again once nothing uses it.")
            continue  # stays in the state file for the next cleanup
        state.loops.remove(loop)
        state.save()
    return problems


def let_go_of_own_descriptors(directory: Path) -> None:
    """Point this process's own descriptors of files below `directory` at /dev/null: one that
    a Ctrl-C cut off from its owner (between the open and the `try` that closes it) would
    otherwise keep the target's filesystem, and its disk's loop device, in use after a lazy
    unmount until the process ends. /dev/null takes the number's place rather than a close, so
    an owner that closes it later closes /dev/null, never a number reused meanwhile."""
    prefix = str(directory).rstrip("/") + "/"
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for name in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # gone meanwhile, or the listing's own
                if os.readlink(f"/proc/self/fd/{name}").startswith(prefix):
                    os.dup2(null, int(name), inheritable=False)
    finally:
        os.close(null)


def _unmount(target: Path) -> None:
    """Unmount; if busy, stop the processes still working inside the target, then lazily."""
    if not _is_mountpoint(target):
        return
    try:
        syscalls.umount(str(target))
        return
    except ToolError as exc:
        if "busy" not in exc.stderr:
            raise RescueError(f"Could not unmount {target}: {exc.stderr}") from exc
    stopped = kill_processes_inside(target)
    try:
        syscalls.umount(str(target))
        return
    except ToolError:
        pass
    try:
        syscalls.umount(str(target), lazy=True)
    except ToolError as exc:
        raise RescueError(
            f"Could not unmount {target} (busy; stopped {stopped} processes): {exc.stderr}. "
            f"Find what holds it with `fuser -vm {target}` and run `rescuetui cleanup` again."
        ) from exc


def _is_mountpoint(target: Path) -> bool:
    t = str(target)
    return any(m.mountpoint == t for m in current_mounts())


def kill_processes_inside(directory: Path) -> int:
    """SIGKILL what still runs inside `directory`: processes chrooted there, the sandboxes
    (core/sandbox.py) whose root it is — killing bubblewrap ends its PID namespace, so every
    process started inside goes with it, whatever it did to hide — and any process whose own
    mount namespace has one of the filesystems mounted there as its root (a sandbox whose
    bubblewrap we could not see start, which would keep the disk in use after we unmount it).

    Processes that merely have their working directory there (an operator's shell that cd'd
    in) are left alone; the lazy unmount deals with those. So are services in mount
    namespaces of their own that merely saw our mounts: their root is the host's.
    """
    prefix = str(directory).rstrip("/") + "/"
    # Filesystems only this session has mounted: never one the host has mounted elsewhere too
    # (a bind of the host's /dev, its root), whose namespaces are every service's.
    below: set[str] = set()
    elsewhere: set[str] = set()
    for m in current_mounts():
        (below if (m.mountpoint + "/").startswith(prefix) else elsewhere).add(m.major_minor)
    ours = below - elsewhere
    my_namespace = os.readlink("/proc/self/ns/mnt")
    killed: list[Path] = []
    me = str(os.getpid())
    for name in os.listdir("/proc"):
        if not name.isdigit() or name == me:
            continue
        try:
            inside = (os.readlink(f"/proc/{name}/root") + "/").startswith(prefix) \
                or _sandbox_of(name, prefix) \
                or (bool(ours) and _namespace_root_among(name, ours, my_namespace))
        except OSError:
            continue
        if inside:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(name), signal.SIGKILL)
                killed.append(Path(f"/proc/{name}"))
    # Gone, and their mount namespaces with them, before anything is unmounted or detached.
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in killed) and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(killed)


def _sandbox_of(pid: str, prefix: str) -> bool:
    """Whether the process is a bubblewrap whose root is below `prefix` (its command line is
    read only for a bubblewrap: one readlink for every other process)."""
    if os.path.basename(os.readlink(f"/proc/{pid}/exe")) != "bwrap":
        return False
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read(1 << 16).split(b"\0")
    return (len(argv) > 3 and argv[1] == b"--bind"
            and (os.fsdecode(argv[2]) + "/").startswith(prefix))


def _namespace_root_among(pid: str, devices: set[str], my_namespace: str) -> bool:
    """Whether the process lives in a mount namespace of its own whose root filesystem is one
    of `devices` ("major:minor"). Its mount table is read only when its namespace is not
    ours: a handful of processes on a host."""
    if os.readlink(f"/proc/{pid}/ns/mnt") == my_namespace:
        return False
    with open(f"/proc/{pid}/mountinfo", errors="surrogateescape") as f:
        for line in f:
            fields = line.split(" ", 5)
            if len(fields) > 4 and fields[4] == "/":
                return fields[2] in devices
    return False


def _alive(proc: Path) -> bool:
    """Whether a process still runs (a zombie waiting for its parent does not: it holds
    nothing)."""
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _xfs_uuid_in_use(source: str) -> bool:
    """Whether an XFS filesystem with this one's UUID is already mounted (a cloned image)."""
    uuid = probe_device(source).uuid
    if not uuid:
        return False
    for m in current_mounts():
        if m.fstype == "xfs" and m.source.startswith("/dev/") and probe_device(m.source).uuid == uuid:
            return True
    return False


def _has_vhd_footer(image: Path, size: int) -> bool:
    if size < 512 or size % 512:
        return False
    with open(image, "rb") as f:
        f.seek(size - 512)
        return f.read(8) == VHD_FOOTER_COOKIE


def _is_dynamic_vhd(image: Path) -> bool:
    with open(image, "rb") as f:
        return f.read(8) == VHD_FOOTER_COOKIE


def _wait_for_partitions(device: str, timeout: float = 2.0) -> None:
    """Partition nodes appear asynchronously after a scan; wait until sysfs and /dev agree."""
    deadline = time.monotonic() + timeout
    while True:
        if all(Path(f"/dev/{p}").exists() for p in loopdev.partitions(device)) \
                or time.monotonic() > deadline:
            return
        time.sleep(0.02)
