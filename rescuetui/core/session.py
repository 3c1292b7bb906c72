"""One rescue run: the chosen disk attached, the target mounted with its fstab tree, a chroot ready."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from rescuetui.core.confined import ConfinedRoot
from rescuetui.core.errors import RescueError, UnsafeRefusal
from rescuetui.core.fstabtree import ResolvedEntry, chosen_disk_devices, resolve_fstab
from rescuetui.core.inventory import Inventory, scan_inventory
from rescuetui.core.journal import DEFAULT_JOURNAL_BASE, Journal
from rescuetui.core.mountinfo import mounts_below
from rescuetui.core.mountpoint import held_inside
from rescuetui.core.mountstack import NO_WRITE_OPTIONS, MountStack
from rescuetui.core.runner import CommandRunner
from rescuetui.core.sandbox import MOUNT_POINTS, Sandbox, check_sandbox_tools
from rescuetui.core.signals import signals_held
from rescuetui.core.state import SessionState
from rescuetui.core.superblock import destroyed_superblocks
from rescuetui.core.target import (
    Candidate,
    TargetSystem,
    choose_candidate,
    describe_target,
    find_candidates,
    read_fstab,
)
from rescuetui.core.text import printable
from rescuetui.core.tools import ToolError
from rescuetui.core.volumes import assemble_array, unlock_luks

# fstab options passed on when mounting into the chroot; the rest (nofail, x-systemd.*, user,
# errors=...) concern the target's own boot, not a rescue look at it.
KEPT_OPTIONS = ("subvol=", "subvolid=", "nouuid")
# The target's own filesystems: no set-user-ID program and no device node on them takes
# effect on the rescue host (commands inside get a /dev of their own: core/sandbox.py).
TARGET_FLAGS = ("nosuid", "nodev")
# A look (`scan`) runs nothing at all: nothing on it can be executed either.
LOOK_FLAGS = (*TARGET_FLAGS, "noexec")
# Without these mounted, the system is not whole (and writes meant for them go astray).
SYSTEM_MOUNTS = frozenset({"/boot", "/usr", "/var", "/boot/efi", "/efi"})
# The EFI system partition is never mounted on the rescue host: rescuetui reads and writes it
# with mtools (core/esp.py), which keeps an untrusted FAT filesystem away from the host kernel
# and works where the rescue kernel has no vfat. Its mount point in the chroot gets an empty
# read-only tmpfs, so that nothing run there writes into the root filesystem's empty directory.
ESP_MOUNTPOINTS = frozenset({"/boot/efi", "/efi"})
ESP_FSTYPES = frozenset({"vfat", "msdos", "fat", "auto"})


@dataclass(frozen=True)
class MountOutcome:
    """What happened to one fstab entry when the tree was mounted."""

    entry: ResolvedEntry
    status: str  # mounted, skipped, missing, failed, esp (the ESP: handled with mtools)
    message: str = ""

    @property
    def problem(self) -> bool:
        return self.status in ("missing", "failed")


def disk_device(disk: str, stack: MountStack) -> str:
    """A block device path for `--disk`: the device itself, or an image attached to a loop."""
    path = Path(disk)
    if path.is_block_device():
        return str(path.resolve())
    if path.is_file():
        return stack.attach_image(path.resolve())
    raise RescueError(f"--disk {disk}: no such block device or disk image file.")


class RescueSession:
    """Attach, find, mount, chroot; everything recorded and torn down in reverse on close.

    Use as a context manager. The target is mounted read-only; `make_writable` remounts it
    read-write when a fix (or `--rw`) needs it.
    """

    def __init__(
        self,
        *,
        journal_base: Path | None = None,
        state_base: Path | None = None,
        dry_run: bool = False,
        record: bool = True,
    ) -> None:
        self.state = SessionState.create(state_base)
        try:
            self.journal = Journal.create(journal_base) if record else None
        except BaseException:  # a Ctrl-C or an unwritable journal: no session, no state left
            remove_session_dirs(self.state.directory)
            raise
        self.stack = MountStack(self.state)
        self.root = self.state.directory / "root"
        self.where = "the attached disks"
        self.runner = CommandRunner(self.journal, dry_run=dry_run)
        self.inventory: Inventory | None = None
        self.target: TargetSystem | None = None
        self.tree: list[MountOutcome] = []
        self.notes: list[str] = []
        self.destroyed: list[str] = []  # filesystems of the disk whose superblock is destroyed
        self.writable = False
        self.unlock_with()

    def __enter__(self) -> RescueSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def find(self, disk: str | None = None) -> list[Candidate]:
        """Attach `disk` if it is an image, list every device, and find the installed systems
        (on `disk` only, when given)."""
        return self.search(self.attach(disk))

    def attach(self, disk: str | None = None) -> list[str] | None:
        """Attach `disk` if it is an image, list every device and open the volumes on it:
        the whole disks (and opened volumes) to look on, None for every attached disk."""
        disk_path = disk_device(disk, self.stack) if disk else None
        self.inventory = scan_inventory()
        disks = [self._whole_disk(disk_path)] if disk_path else None
        self.where = disk_path or "the attached disks"
        if self._open_volumes(disks):
            self.inventory = scan_inventory()
            if disks is not None:  # what was opened on the disk counts as on the disk
                chosen = set(disks)
                disks += [d.path for d in self.inventory.devices
                          if (d.dm_name or d.name.startswith("md"))
                          and self.inventory.disks_below(d) <= chosen]
        return disks

    def search(self, disks: list[str] | None) -> list[Candidate]:
        """The installed systems on `disks` (from `attach`)."""
        assert self.inventory is not None
        candidates = find_candidates(self.inventory, self.stack, disks)
        # A filesystem whose superblock is gone is invisible above: say so, with the backup.
        self.destroyed = destroyed_superblocks(self.inventory, disks) if disks else []
        self.notes += [f"{text} `rescuetui repair` restores it." for text in self.destroyed]
        return candidates

    def unlock_with(
        self,
        *,
        key_file: Path | None = None,
        passphrase: bytes | None = None,
        assemble_raid: bool = False,
        ask: Callable[[str], bytes | None] | None = None,
        before_opening: Callable[[], None] | None = None,
    ) -> None:
        """What `find` may use to open encrypted, LVM and RAID devices on the chosen disks.
        `ask` (the TUI's prompt) is called with a LUKS device's path when neither a key file
        nor a passphrase was given, and answers its passphrase, or None to leave it locked;
        the passphrase is used for that device and kept nowhere (never journaled).
        `before_opening` is called once before the first volume is opened (an md assembly
        writes its members' superblocks, an imported LVM copy is renamed on the disk until
        teardown): the TUI's look-ahead waits there for the operator's Enter."""
        self._key_file, self._passphrase, self._assemble_raid = key_file, passphrase, assemble_raid
        self._ask = ask
        self._before_opening = before_opening

    def _about_to_open(self) -> None:
        if self._before_opening is not None:
            before, self._before_opening = self._before_opening, None
            before()

    def _open_volumes(self, disks: list[str] | None) -> bool:
        """Unlock LUKS (with a key), activate LVM groups, assemble RAID (on request). What
        cannot be opened becomes a note for the operator, not a failure: the root may be
        elsewhere."""
        assert self.inventory is not None
        opened = False
        lvm_members: list[str] = []
        arrays: set[str | None] = set()  # md arrays assembled, by their UUID
        for dev in self.inventory.devices:
            if dev.rescue_own or (disks is not None and dev.whole_disk not in disks):
                continue
            try:
                if dev.encrypted:
                    passphrase = self._passphrase
                    if self._key_file is None and passphrase is None and self._ask is not None:
                        passphrase = self._ask(dev.path)
                    if self._key_file is None and passphrase is None:
                        self.notes.append(f"{dev.path} is encrypted (LUKS); give --key-file or "
                                          "--passphrase-stdin to unlock it.")
                        continue
                    self._about_to_open()
                    unlock_luks(self.state, dev, passphrase=passphrase, key_file=self._key_file)
                elif dev.lvm_member:
                    lvm_members.append(dev.path)
                    continue
                elif dev.raid_member:
                    if not self._assemble_raid:
                        self.notes.append(f"{dev.path} is an md RAID member; assemble it with "
                                          "--assemble-raid.")
                        continue
                    if dev.identity.uuid in arrays:
                        continue  # assembled with an earlier member of the same array
                    arrays.add(dev.identity.uuid)
                    self._about_to_open()
                    assemble_array(self.state, self.inventory, dev)
                else:
                    continue
                opened = True
            except RescueError as exc:
                self.notes.append(str(exc))
        return self._open_volume_groups(lvm_members) or opened

    def _open_volume_groups(self, members: list[str]) -> bool:
        """Activate the volume groups of these physical volumes; a copy of a group the rescue
        system has itself (a repair VM from the same image) is imported under a temporary name
        and put back at teardown (core/lvm.py)."""
        assert self.inventory is not None
        if not members:
            return False
        from rescuetui.core.lvm import (
            LabelUnreadable,
            PhysicalVolume,
            open_volume_group,
            physical_volume,
            volume_groups,
        )

        pvs: list[PhysicalVolume] = []
        for path in members:
            try:
                pv = physical_volume(path)
            except LabelUnreadable as exc:
                self.notes.append(f"{exc} Its volume group was not opened.")
                continue
            if pv is None:
                self.notes.append(f"{path} is an LVM physical volume by its signature, but LVM "
                                  "finds no label on it (`pvs` shows nothing); its metadata may "
                                  "be damaged.")
            else:
                pvs.append(pv)
        others: list[PhysicalVolume] = []
        for dev in self.inventory.devices:
            if not dev.lvm_member or dev.path in members:
                continue
            try:
                pv = physical_volume(dev.path)
            except LabelUnreadable as exc:
                # A twin of the target's group among the rescue system's own cannot be ruled
                # out: opening it could activate the wrong one.
                self.notes.append(f"{exc} Whether the disk's volume groups are copies of the "
                                  "rescue system's own is not known, so none was opened.")
                return False
            if pv is not None:
                others.append(pv)
        opened = False
        for group in volume_groups(pvs):
            self._about_to_open()
            try:
                _, note = open_volume_group(self.state, group, others, self.identity_dir)
            except RescueError as exc:
                self.notes.append(str(exc))
                continue
            if note:
                self.notes.append(note)
            opened = True
        return opened

    def open_target(
        self, disk: str | None = None, root: str | None = None, *, api: bool = True,
        boot_chain: bool = True,
    ) -> TargetSystem:
        """Mount the chosen system read-only with its fstab tree and, with `api`, get its
        sandbox ready for commands inside it (core/sandbox.py). Without `boot_chain`, the
        target's boot chain is not read (a command in it needs none of it)."""
        candidates = self.find(disk)
        if not candidates and not root and self.destroyed:
            raise RescueError(
                f"No installed Linux system can be found on {self.where} until a destroyed "
                f"superblock is restored: {' '.join(self.destroyed)} Run `rescuetui repair "
                f"--disk {disk}` (it restores it from the backup, after asking).")
        candidate = choose_candidate(candidates, root, self.where)
        return self.open_candidate(candidate, api=api, disk=disk, boot_chain=boot_chain)

    def open_candidate(
        self, candidate: Candidate, *, api: bool = True, disk: str | None = None,
        boot_chain: bool = True,
    ) -> TargetSystem:
        """`open_target` for a candidate already found by `find`."""
        self.tree = self._mount_system(candidate, self.root, no_write=False)
        assert self.inventory is not None
        # Described only now: kernels on a separate /boot or /usr show once the tree is mounted.
        target = describe_target(self.root, candidate, self.inventory, boot_chain=boot_chain)
        self.target = target
        if api:
            self._prepare_sandbox()
        if self.journal:
            self.journal.append(
                "target",
                disk=disk,
                device=target.device,
                uuid=target.uuid,
                fstype=target.fstype,
                subvolume=target.subdir,
                distro=target.os_release.get("PRETTY_NAME", ""),
                mount_root=str(self.root),
                tree=[{"mountpoint": printable(o.entry.entry.mountpoint), "status": o.status,
                       "message": o.message} for o in self.tree],
            )
        return target

    def inspect(self, candidate: Candidate) -> tuple[TargetSystem, list[MountOutcome]]:
        """Describe a candidate with its fstab tree mounted read-only (no journal replay), then
        unmount it again: what `scan` shows for every system it finds."""
        where = self.state.directory / "probe" / candidate.device.name
        where.mkdir(parents=True, exist_ok=True)
        mark = len(self.stack.records)
        try:
            tree = self._mount_system(candidate, where, no_write=True)
            assert self.inventory is not None
            return describe_target(where, candidate, self.inventory), tree
        finally:
            while len(self.stack.records) > mark:
                self.stack.unmount_last()
            where.rmdir()

    def _mount_system(
        self, candidate: Candidate, where: Path, *, no_write: bool
    ) -> list[MountOutcome]:
        assert self.inventory is not None
        dev = candidate.device
        where.mkdir(exist_ok=True)
        extra = NO_WRITE_OPTIONS.get(dev.fstype or "", []) if no_write else []
        options = (["ro", *(LOOK_FLAGS if no_write else TARGET_FLAGS), *extra]
                   + ([f"subvol={candidate.subdir}"] if candidate.subdir else []))
        try:
            self.stack.mount(dev.path, where, fstype=dev.fstype, options=options, kind="root")
        except ToolError as exc:
            raise RescueError(
                f"The root filesystem {dev.path} could not be mounted read-only: "
                f"{exc.stderr}. It may need fsck (`e2fsck -f` / `xfs_repair`)."
            ) from exc
        fstab = resolve_fstab(read_fstab(where), self.inventory, dev.whole_disk)
        return self._mount_tree(where, fstab, no_write, dev.whole_disk)

    def _whole_disk(self, device: str) -> str:
        assert self.inventory is not None
        found = self.inventory.get(device)
        if found is None:
            raise RescueError(f"{device} is not a block device the kernel lists.")
        if found.rescue_own:
            raise UnsafeRefusal(
                f"{device} is the rescue system's own disk (it holds what this system runs from); "
                "it is never used as a target."
            )
        return found.whole_disk

    def mount_missing(self) -> list[MountOutcome]:
        """After /etc/fstab changed: mount the entries that now resolve and are not mounted yet,
        and describe the target again (a /boot that appears brings its kernels)."""
        assert self.target is not None and self.inventory is not None
        self.inventory = scan_inventory()
        fstab = resolve_fstab(read_fstab(self.root), self.inventory, self.target.disk)
        done = {o.entry.entry.mountpoint for o in self.tree if o.status == "mounted"}
        mark = len(self.stack.records)
        fresh = self._mount_tree(self.root, [r for r in fstab if r.entry.mountpoint not in done],
                                 no_write=False, disk=self.target.disk)
        if self.writable:
            for record in self.stack.records[mark:]:
                self.stack.remount(record, writable=True)
        self.tree = [o for o in self.tree if o.status == "mounted"] + fresh
        device = self.inventory.get(self.target.device)
        if device is None:
            raise RescueError(f"The root device {self.target.device} is gone: was the disk "
                              "detached?")
        candidate = Candidate(device, self.target.subdir, self.target.os_release)
        self.target = describe_target(self.root, candidate, self.inventory)
        return fresh

    def unmounted_system_mounts(self) -> list[MountOutcome]:
        """Required system filesystems (/boot, /usr, /var, the ESP) that are not mounted: files
        written there now would land on the root filesystem, where the boot loader never looks."""
        return [o for o in self.tree if o.problem and o.entry.entry.mountpoint in SYSTEM_MOUNTS]

    def _mount_tree(
        self, root: Path, fstab: list[ResolvedEntry], no_write: bool, disk: str
    ) -> list[MountOutcome]:
        outcomes = []
        assert self.inventory is not None
        # An ESP partition whose FAT libblkid cannot read: fstab cannot find it by UUID, but the
        # fault is the filesystem (the esp check repairs it), not the entry.
        unreadable_esp = next((d.path for d in self.inventory.partitions_of(disk)
                               if d.is_esp and not d.fstype), None)
        known = {line.split()[-1] for line in Path("/proc/filesystems").read_text().splitlines()
                 if line.strip()}
        ordered = sorted(
            (r for r in fstab if r.entry.kind in ("filesystem", "bind")),
            key=lambda r: (0 if r.entry.mountpoint == "/" else r.entry.mountpoint.count("/")),
        )
        for resolved in ordered:
            entry = resolved.entry
            if entry.mountpoint == "/":
                continue
            name = printable(entry.mountpoint)
            if (resolved.status == "missing" and unreadable_esp and entry.mountpoint in
                    ESP_MOUNTPOINTS and entry.fstype in ESP_FSTYPES):
                outcomes.append(MountOutcome(
                    resolved, "esp", f"{name}: the ESP {unreadable_esp} holds no filesystem "
                    "libblkid can read; the esp check looks at it (never mounted)"))
                if not no_write:
                    self._esp_placeholder(root, entry.mountpoint)
                continue
            if resolved.status == "elsewhere" and (not resolved.required
                                                   or entry.mountpoint not in SYSTEM_MOUNTS):
                outcomes.append(MountOutcome(
                    resolved, "skipped", f"{name} not mounted: {resolved.note}; rescuetui "
                    "cannot say here whether the entry is right"))
                continue
            if resolved.status != "resolved":
                if resolved.required:
                    outcomes.append(MountOutcome(
                        resolved, "missing",
                        f"{name} (fstab line {entry.line_number}, {printable(entry.spec)}) is "
                        f"required but {resolved.note or resolved.status}; the system will not "
                        "boot cleanly until the device is attached or the entry gets nofail",
                    ))
                else:
                    outcomes.append(MountOutcome(
                        resolved, "skipped",
                        f"{name} skipped: {resolved.note or resolved.status} (nofail)"))
                continue
            if entry.mountpoint in ESP_MOUNTPOINTS and entry.fstype in ESP_FSTYPES:
                outcomes.append(MountOutcome(
                    resolved, "esp", f"{name}: the ESP {resolved.device}, read and written with "
                    "mtools, never mounted on the rescue host"))
                if not no_write:
                    self._esp_placeholder(root, entry.mountpoint)
                continue
            try:
                # The mount point resolved inside the target and held open: a link planted
                # there (to a host directory) leads the mount nowhere out of the target.
                with held_inside(root, entry.mountpoint) as mountpoint:
                    if entry.kind == "bind":
                        with held_inside(root, entry.spec, directory=False) as source:
                            self.stack.mount(str(source.host), mountpoint.host,
                                             options=["bind"], kind="fstab",
                                             via=mountpoint.via, source_via=source.via)
                    else:
                        assert resolved.device is not None
                        options = (["ro", *(LOOK_FLAGS if no_write else TARGET_FLAGS)]
                                   + [o for o in entry.options if o.startswith(KEPT_OPTIONS)])
                        fstype = entry.fstype if entry.fstype not in ("auto", "") else None
                        if no_write:
                            options += NO_WRITE_OPTIONS.get(fstype or "", [])
                        self.stack.mount(resolved.device, mountpoint.host, fstype=fstype,
                                         options=sorted(set(options), key=options.index),
                                         kind="fstab", via=mountpoint.via)
                outcomes.append(MountOutcome(resolved, "mounted", f"{name} from {resolved.device}"))
            except OSError as exc:
                where = (f"the bind source {printable(entry.spec)} or the mount point"
                         if entry.kind == "bind" else "the mount point")
                outcomes.append(MountOutcome(
                    resolved, "failed",
                    f"{name}: {where} does not exist as a directory on the target root "
                    f"({exc.strerror}); create it (`rescuetui shell --rw`, then `mkdir -p "
                    f"{name}`) or fix fstab line {entry.line_number}"))
            except ToolError as exc:
                hint = ""
                if entry.fstype not in known and entry.fstype not in ("auto", "none"):
                    hint = (f"; this rescue kernel cannot mount {printable(entry.fstype)} "
                            "(not in /proc/filesystems): load its module or use a rescue "
                            "image that has it")
                outcomes.append(MountOutcome(
                    resolved, "failed", f"{name} from {resolved.device}: {exc.stderr}{hint}"))
        return outcomes

    def _esp_placeholder(self, root: Path, path: str) -> None:
        """An empty read-only tmpfs over the ESP's mount point `path` (resolved inside the
        target, see `_mount_tree`), with the directory's own mode and owner (so that it looks,
        and compares in change manifests, like the directory)."""
        try:
            with held_inside(root, path) as mountpoint:
                st = mountpoint.st
                self.stack.mount("tmpfs", mountpoint.host, fstype="tmpfs",
                                 options=["ro", "nosuid", "nodev", "noexec", "size=64k",
                                          f"mode={st.st_mode & 0o7777:04o}", f"uid={st.st_uid}",
                                          f"gid={st.st_gid}"], kind="placeholder",
                                 via=mountpoint.via)
        except OSError:
            return  # no directory there: nothing to cover

    def _prepare_sandbox(self) -> None:
        """Get commands inside the target ready to run in their sandbox (core/sandbox.py):
        nothing of the host is mounted into the target any more; bubblewrap gives each command
        its own /dev, /proc, /sys and /run, and the chosen disk's nodes."""
        check_sandbox_tools()
        files = ConfinedRoot(self.root)
        for path in MOUNT_POINTS:
            st = files.lstat(path)
            if st is None or not stat.S_ISDIR(st.st_mode):
                what = "is a link" if st is not None and stat.S_ISLNK(st.st_mode) else \
                    "is not a directory" if st is not None else "is missing"
                raise RescueError(
                    f"The target's {path} {what}, so commands cannot run inside it. Make it a "
                    f"plain directory (`rescuetui run --rw` cannot, so mount the root "
                    "read-write by hand: rm the link, mkdir it) or check the root filesystem: "
                    "a missing top-level directory often means damage.")
        assert self.target is not None and self.inventory is not None
        devices = sorted(d for d in chosen_disk_devices(self.inventory, self.target.disk)
                         if os.path.exists(d))
        self.runner.sandbox = Sandbox(self.root, devices, _resolv_conf_place(files))

    def make_writable(self) -> None:
        """Remount the target's own filesystems read-write (never the API filesystems)."""
        if self.writable:
            return
        for record in self.stack.records:
            if record.kind in ("root", "fstab") and "bind" not in record.options:
                try:
                    self.stack.remount(record, writable=True)
                except ToolError as exc:
                    raise RescueError(
                        f"{record.source} cannot be made writable: {exc.stderr}. The disk may be "
                        "read-only (check the image file's permissions or the device's ro flag) "
                        "or the filesystem has errors that need fsck first."
                    ) from exc
        self.writable = True
        if self.journal:
            self.journal.append("remount", mode="rw")

    @property
    def identity_dir(self) -> Path:
        """Where the identity of an imported LVM copy is kept until it is put back: beside
        the journal, on persistent storage (never /run)."""
        return (self.journal.directory if self.journal else DEFAULT_JOURNAL_BASE) / "lvm"

    def close(self) -> list[str]:
        """Copy the journal into the target when it is writable, then tear everything down.
        Ctrl-C, SIGTERM and SIGHUP wait until the teardown is done (a second Ctrl-C while the
        first one unwinds must not leave half of it mounted); they act right after."""
        with signals_held():
            return self._close()

    def _close(self) -> list[str]:
        problems: list[str] = []
        if self.journal and self.target is not None and self.writable:
            if self.journal.copy_into(self.root) is None:
                problems.append("The journal could not be copied into the target.")
        left = self.stack.teardown()
        problems += left
        if self.journal:
            try:
                self.journal.append("session-end", problems=problems)
            except RescueError as exc:  # a full journal disk: said, the teardown is done
                problems.append(str(exc))
        if not left:
            remove_session_dirs(self.state.directory)
        return problems


def remove_session_dirs(directory: Path) -> None:
    """Remove a torn-down session's own empty mount point directories and its state files.

    Only directories this program made, one level each, and only with nothing mounted below:
    never a walk that could reach into a target that is still mounted.
    """
    if mounts_below(directory):
        return
    for leftover in (directory / "probe").glob("*"):
        leftover.rmdir()
    for name in ("probe", "root", "replay"):
        if (directory / name).is_dir():
            (directory / name).rmdir()
    (directory / "state.json").unlink(missing_ok=True)
    directory.rmdir()


def _resolv_conf_place(files: ConfinedRoot) -> str | None:
    """Where in the sandbox the host's resolv.conf goes (so that a package download finds its
    servers) without writing the target's: over its own file, or where its link points into
    /run (a tmpfs of the sandbox's own); nowhere when it points elsewhere and is missing."""
    path = "/etc/resolv.conf"
    for _ in range(8):
        st = files.lstat(path)
        if st is None:
            return path if path.startswith("/run/") else None
        if stat.S_ISREG(st.st_mode):
            return path
        link = files.readlink(path) if stat.S_ISLNK(st.st_mode) else None
        if link is None:
            return None
        path = os.path.normpath(os.path.join(os.path.dirname(path), link))
        if path.startswith("/run/"):
            return path
    return None
