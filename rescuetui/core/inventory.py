"""Every block device on the rescue host: the tree from sysfs and the udev database (read as
lsblk reads them), identity from libblkid, probed when first asked for."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rescuetui.core.mountinfo import MountInfo, current_mounts
from rescuetui.core.probe import Identity, probe_device, udev_identity
from rescuetui.core.text import printable

# What the rescue system itself runs from: never offered as a target by default.
RESCUE_MOUNTPOINTS = (
    "/", "/boot", "/boot/efi", "/efi", "/usr", "/var",
    "/run/live/medium", "/lib/live/mount/medium", "/cdrom", "/run/initramfs/live",
    "/run/archiso/bootmnt", "/run/rootfsbase",
)
ESP_TYPES = frozenset({"c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "0xef"})
BIOS_BOOT_TYPE = "21686148-6449-6e6f-744e-656564454649"
_TRANSPORTS = (
    ("loop", "loop"), ("vd", "virtio"), ("nvme", "nvme"), ("sd", "scsi"), ("md", "md"),
    ("dm-", "dm"), ("mmcblk", "mmc"), ("xvd", "xen"), ("sr", "cdrom"), ("hd", "ide"),
)
_SKIPPED = re.compile(r"^(ram|zram|fd)\d")


@dataclass
class BlockDevice:
    path: str
    name: str
    devtype: str  # "disk" or "partition"
    transport: str
    size: int
    major_minor: str
    parent: str | None = None
    readonly: bool = False
    removable: bool = False
    # What udev's record or libblkid says the device holds; None until first asked for
    # (`identity`): a run on one disk does not read every other disk of the host.
    known_identity: Identity | None = None
    mountpoints: list[str] = field(default_factory=list)
    rescue_own: bool = False
    backing_file: str | None = None
    holders: list[str] = field(default_factory=list)
    dm_name: str | None = None

    @property
    def identity(self) -> Identity:
        if self.known_identity is None:
            self.known_identity = (udev_identity(_udev_properties(self.major_minor))
                                   or probe_device(self.path))
        return self.known_identity

    @identity.setter
    def identity(self, value: Identity) -> None:
        self.known_identity = value

    @property
    def whole_disk(self) -> str:
        return self.parent or self.path

    @property
    def fstype(self) -> str | None:
        return self.identity.fstype

    @property
    def encrypted(self) -> bool:
        return (self.identity.fstype or "").startswith("crypto_")

    @property
    def lvm_member(self) -> bool:
        return self.identity.fstype == "LVM2_member"

    @property
    def raid_member(self) -> bool:
        return self.identity.fstype in ("linux_raid_member", "isw_raid_member", "ddf_raid_member")

    @property
    def is_esp(self) -> bool:
        return (self.identity.partition_type or "").lower() in ESP_TYPES

    @property
    def is_bios_boot(self) -> bool:
        return (self.identity.partition_type or "").lower() == BIOS_BOOT_TYPE

    @property
    def role(self) -> str:
        """A word for what the device holds, for lists and decisions."""
        if self.identity.error:
            return "unreadable" if self.identity.error.startswith("cannot") else "ambiguous"
        if self.encrypted:
            return "encrypted"
        if self.lvm_member:
            return "lvm-pv"
        if self.raid_member:
            return "raid-member"
        if self.fstype == "swap":
            return "swap"
        if self.identity.usage == "filesystem":
            return "esp" if self.is_esp else "filesystem"
        if self.identity.partition_table:
            return "partitioned"
        if self.is_bios_boot:
            return "bios-boot"
        return "empty" if not self.fstype else self.fstype

    def to_json(self) -> dict[str, Any]:
        ident = self.identity

        def shown(value: str | None) -> str | None:
            return None if value is None else printable(value)

        return {
            "path": self.path,
            "name": self.name,
            "type": self.devtype,
            "transport": self.transport,
            "size": self.size,
            "parent": self.parent,
            "readonly": self.readonly,
            "removable": self.removable,
            "role": self.role,
            "fstype": ident.fstype,
            "fsversion": ident.version,
            "uuid": shown(ident.uuid),
            "label": shown(ident.label),
            "partition_table": ident.partition_table,
            "partition_number": ident.partition_number,
            "partition_type": ident.partition_type,
            "partuuid": ident.partuuid,
            "partlabel": shown(ident.partlabel),
            "probe_error": ident.error,
            "identity_source": ident.source,
            "mountpoints": [printable(m) for m in self.mountpoints],
            "rescue_own": self.rescue_own,
            "backing_file": shown(self.backing_file),
            "holders": self.holders,
            "dm_name": self.dm_name,
        }


@dataclass
class Inventory:
    devices: list[BlockDevice]

    def get(self, path: str) -> BlockDevice | None:
        real = os.path.realpath(path)
        return next((d for d in self.devices if d.path in (path, real)), None)

    def partitions_of(self, disk: str) -> list[BlockDevice]:
        return [d for d in self.devices if d.parent == disk]

    def disks_below(self, device: BlockDevice) -> set[str]:
        return _disks_below(device, {d.name: d for d in self.devices})

    def on_disk(self, disk: str) -> list[BlockDevice]:
        """The disk itself and its partitions."""
        return [d for d in self.devices if d.whole_disk == disk]

    def matching(self, tag: str, value: str,
                 among: Iterable[BlockDevice] | None = None) -> list[BlockDevice]:
        """Devices (of `among`, default all) whose identity carries `tag`=`value` (UUIDs
        compared without case)."""
        def attr(d: BlockDevice) -> str | None:
            i = d.identity
            return {"UUID": i.uuid, "LABEL": i.label, "PARTUUID": i.partuuid,
                    "PARTLABEL": i.partlabel}.get(tag)

        devices = self.devices if among is None else among
        if tag in ("UUID", "PARTUUID"):
            return [d for d in devices if (attr(d) or "").lower() == value.lower() != ""]
        return [d for d in devices if attr(d) == value and value != ""]

    def to_json(self) -> list[dict[str, Any]]:
        return [d.to_json() for d in self.devices]


def in_use(device: BlockDevice) -> str:
    """Why the device must not be written (mounted, or held open exclusively), or ""."""
    if device.mountpoints:
        return f"it is mounted at {', '.join(device.mountpoints)}"
    if device.holders:
        return f"it is in use by {', '.join(device.holders)}"
    try:
        # The kernel refuses an exclusive open of a device a mount or a mapping holds: it
        # also sees a mount made in another namespace, which /proc/self/mountinfo does not.
        fd = os.open(device.path, os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            return "it is in use (mounted or held open by another program)"
        return f"it cannot be opened ({exc.strerror})"
    os.close(fd)
    return ""


def _transport(name: str) -> str:
    return next((t for prefix, t in _TRANSPORTS if name.startswith(prefix)), "other")


def _attr(sys_path: str, name: str) -> str | None:
    try:
        with open(f"{sys_path}/{name}", "rb") as f:
            return f.read(4096).decode("utf-8", "surrogateescape").strip()
    except OSError:
        return None


def _key_values(text: str | None, prefix: str = "") -> dict[str, str]:
    """KEY=VALUE lines (a uevent file; the udev database's `E:` lines with `prefix`)."""
    found = {}
    for line in (text or "").splitlines():
        if line.startswith(prefix) and "=" in line:
            key, _, value = line[len(prefix):].partition("=")
            found[key] = value
    return found


def _udev_properties(major_minor: str) -> dict[str, str]:
    """What udevd recorded for the device (ID_FS_TYPE, ...), when a udev daemon runs."""
    try:
        with open(f"/run/udev/data/b{major_minor}", encoding="utf-8",
                  errors="surrogateescape") as f:
            return _key_values(f.read(65536), "E:")
    except OSError:
        return {}


def _sysfs_block_devices() -> list[tuple[str, str]]:
    """(name, sysfs path) of every block device, in libudev's enumeration order: by sysfs
    path, device-mapper and md devices last (they are built on the others)."""
    try:
        names = os.listdir("/sys/class/block")
    except OSError:
        return []
    found = []
    for name in names:
        # A link into /sys/devices (joined by hand: realpath's lstat of every component costs
        # more than the rest of the listing); a device that went away meanwhile is skipped.
        try:
            link = os.readlink(f"/sys/class/block/{name}")
        except OSError:
            continue
        found.append((name, os.path.normpath(os.path.join("/sys/class/block", link))))
    return sorted(found, key=lambda f: (f[0].startswith(("dm-", "md")), f[1]))


def _list_sysfs(path: Path) -> list[str]:
    try:
        return sorted(p.name for p in path.iterdir())
    except OSError:
        return []


def _disks_below(device: BlockDevice, by_name: dict[str, BlockDevice]) -> set[str]:
    """The whole disks a device-mapper or md device is built on (through LUKS, LVM, RAID
    layers), from sysfs; a plain disk or partition is on its own whole disk."""
    slaves = _list_sysfs(Path("/sys/class/block") / device.name / "slaves")
    below = [by_name[name] for name in slaves if name in by_name]
    if not below:
        return {device.whole_disk}
    return set().union(*(_disks_below(d, by_name) for d in below))


def scan_inventory(probe: bool = True) -> Inventory:
    """List every block device the kernel knows and mark the rescue system's own. Each is
    probed (libblkid, or udev's record of it) when its identity is first asked for; with
    `probe` False, identities stay empty."""
    mounts = current_mounts()
    devices: list[BlockDevice] = []
    for name, sys_path in _sysfs_block_devices():
        if _SKIPPED.match(name):
            continue
        size = int(_attr(sys_path, "size") or 0) * 512
        if size == 0:  # an unattached loop device or an empty drive
            continue
        uevent = _key_values(_attr(sys_path, "uevent"))
        devtype = uevent.get("DEVTYPE") or "disk"
        parent = None
        if devtype == "partition":
            parent = f"/dev/{os.path.basename(os.path.dirname(sys_path))}"
        major_minor = f"{uevent.get('MAJOR', '0')}:{uevent.get('MINOR', '0')}"
        bd = BlockDevice(
            path=f"/dev/{uevent.get('DEVNAME') or name}",
            name=name,
            devtype=devtype,
            transport=_transport(parent.removeprefix("/dev/") if parent else name),
            size=size,
            major_minor=major_minor,
            parent=parent,
            readonly=_attr(sys_path, "ro") == "1",
            removable=_attr(sys_path, "removable") == "1",
            backing_file=_attr(sys_path, "loop/backing_file"),
            holders=[f"/dev/{h}" for h in _list_sysfs(Path(sys_path) / "holders")],
            dm_name=_attr(sys_path, "dm/name"),
        )
        if not probe:
            bd.identity = Identity()
        bd.mountpoints = [m.mountpoint for m in mounts if _same_device(m, bd)]
        devices.append(bd)
    _mark_rescue_own(devices, mounts)
    return Inventory(devices)


def _same_device(mount: MountInfo, device: BlockDevice) -> bool:
    return mount.major_minor == device.major_minor or mount.source == device.path


def _mark_rescue_own(devices: list[BlockDevice], mounts: Iterable[MountInfo]) -> None:
    """Mark the disks the rescue system runs from, following dm/md devices to the disks below."""
    by_mm = {d.major_minor: d for d in devices}
    by_path = {d.path: d for d in devices}
    wanted = [m for m in mounts if m.mountpoint in RESCUE_MOUNTPOINTS]
    wanted_mm = {m.major_minor for m in wanted} | _swap_devices(by_path)
    own_disks: set[str] = set()
    queue = [by_mm[mm] for mm in wanted_mm if mm in by_mm]
    queue += [by_path[m.source] for m in wanted if m.source in by_path]
    while queue:
        dev = queue.pop()
        if dev.whole_disk in own_disks:
            continue
        own_disks.add(dev.whole_disk)
        for slave in _list_sysfs(Path("/sys/class/block") / dev.name / "slaves"):
            if f"/dev/{slave}" in by_path:
                queue.append(by_path[f"/dev/{slave}"])
    for dev in devices:
        dev.rescue_own = dev.whole_disk in own_disks
    # The rescue system's other logical volumes and mappings (its /home, an unmounted LV) sit on
    # its disks too: a target's fstab naming `rootvg-homelv` must never reach them.
    by_name = {d.name: d for d in devices}
    for dev in devices:
        if dev.dm_name and not dev.rescue_own:
            dev.rescue_own = bool(_disks_below(dev, by_name) & own_disks)


def _swap_devices(by_path: dict[str, BlockDevice]) -> set[str]:
    try:
        lines = Path("/proc/swaps").read_text().splitlines()[1:]
    except OSError:
        return set()
    return {by_path[f.split()[0]].major_minor for f in lines if f.split() and f.split()[0] in by_path}
