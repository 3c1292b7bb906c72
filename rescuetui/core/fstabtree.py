"""Resolution of a target's fstab entries to the block devices found on the rescue host."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rescuetui.core.fstab import Fstab, FstabEntry
from rescuetui.core.inventory import BlockDevice, Inventory
from rescuetui.core.text import printable
from rescuetui.core.volumes import LVM_COPY_PREFIX

_PART_NUMBER = re.compile(r"(\d+)$")
# /dev/<name>/<name> paths that are not LVM's /dev/<vg>/<lv>
_NOT_VOLUME_GROUPS = {"disk", "md", "mapper", "bcache", "zvol", "block", "char", "bus", "cdrom"}


@dataclass(frozen=True)
class ResolvedEntry:
    """One fstab entry and what it names on this host.

    status: `resolved` (device found), `missing` (nothing matches), `ambiguous` (several devices
    match and none can be preferred), `elsewhere` (only another disk of this host matches: the
    chosen disk is data, and what it says never reaches another disk), `skipped` (swap,
    network, pseudo filesystems: recognised, not mounted into the chroot).
    """

    entry: FstabEntry
    status: str
    device: str | None = None
    note: str = ""

    @property
    def required(self) -> bool:
        return not (self.entry.nofail or self.entry.noauto)

    def to_json(self) -> dict[str, Any]:
        e = self.entry
        return {
            "line": e.line_number,
            "spec": printable(e.spec),
            "mountpoint": printable(e.mountpoint),
            "fstype": printable(e.fstype),
            "options": [printable(o) for o in e.options],
            "kind": e.kind,
            "nofail": e.nofail,
            "status": self.status,
            "device": self.device,
            "note": self.note,
        }


def resolve_entry(entry: FstabEntry, inventory: Inventory, root_disk: str) -> ResolvedEntry:
    if entry.kind in ("network", "pseudo"):
        return ResolvedEntry(entry, "skipped", note=f"{entry.kind} filesystem, not mounted here")
    if entry.kind == "bind":
        return ResolvedEntry(entry, "resolved", note="bind mount inside the target")
    spec = entry.device
    if spec.tag == "other":
        return ResolvedEntry(entry, "missing", note=f"{printable(entry.spec)} names no device")
    if spec.tag == "path":
        return _resolve_path(entry, inventory, root_disk)
    chosen = chosen_disk_devices(inventory, root_disk)
    # The chosen disk first: the host's other disks are read only to say why an entry is not
    # there (on another disk, on the rescue system's own, or nowhere).
    on_chosen = inventory.matching(spec.tag, spec.value,
                                   [d for d in inventory.devices if d.path in chosen])
    if any(not d.rescue_own for d in on_chosen):
        return _choose(entry, on_chosen, chosen)
    return _choose(entry, inventory.matching(spec.tag, spec.value), chosen)


def root_disks(inventory: Inventory, root_disk: str) -> set[str]:
    """The whole disks the root is on: its own, and for a root on a logical volume (or LUKS,
    RAID: a device-mapper or md device is its own "disk") the disks of the devices it is built
    on, which name it among their holders. So the /boot partition beside rootvg's PV is the
    root's, not its twin on another disk made from the same image."""
    disks, frontier = {root_disk}, {root_disk}
    while frontier:
        below = [d for d in inventory.devices if frontier & set(d.holders)]
        frontier = {d.path for d in below} - disks
        disks |= frontier | {d.whole_disk for d in below}
    return disks


def chosen_disk_devices(inventory: Inventory, root_disk: str) -> set[str]:
    """Every device of the chosen disk: the whole disks the root is on, their partitions, and
    what is opened from them (logical volumes, LUKS, RAID: their holders, and theirs)."""
    disks = root_disks(inventory, root_disk)
    chosen = disks | {d.path for d in inventory.devices if d.whole_disk in disks}
    frontier = set(chosen)
    while frontier:
        above = {h for d in inventory.devices if d.path in frontier for h in d.holders}
        frontier = above - chosen
        chosen |= frontier
    return chosen


def _elsewhere(entry: FstabEntry, devices: list[BlockDevice]) -> ResolvedEntry:
    names = ", ".join(d.path for d in devices)
    return ResolvedEntry(entry, "elsewhere",
                         note=f"found only on another disk of this host ({names}), which is "
                         "never used for this target")


def _choose(entry: FstabEntry, found: list[BlockDevice], chosen: set[str]) -> ResolvedEntry:
    """Only the chosen disk's devices: a repair VM made from the same image has twins, and a
    hostile disk's fstab must not reach another disk of the host."""
    usable = [d for d in found if not d.rescue_own]
    on_chosen_disk = [d for d in usable if d.path in chosen]
    if len(on_chosen_disk) == 1:
        status = "skipped" if entry.kind == "swap" else "resolved"
        note = "swap: recognised, not mounted" if entry.kind == "swap" else ""
        return ResolvedEntry(entry, status, on_chosen_disk[0].path, note)
    if len(on_chosen_disk) > 1:
        names = ", ".join(d.path for d in on_chosen_disk)
        return ResolvedEntry(entry, "ambiguous", note=f"matches several devices: {names}")
    if usable:
        return _elsewhere(entry, usable)
    if found:
        return ResolvedEntry(
            entry, "missing",
            note="found only on the rescue system's own disk, which is never used for the target",
        )
    return ResolvedEntry(entry, "missing", note=f"no device has {printable(str(entry.device))}")


def _resolve_path(entry: FstabEntry, inventory: Inventory, root_disk: str) -> ResolvedEntry:
    """A kernel device name (`/dev/sda2`) is the broken system's own naming, not the rescue
    host's: the same partition number on the root's disk is the best reading of it."""
    path = entry.spec
    mapped = _device_mapper_name(path)
    if mapped is not None:
        return _choose_mapped(entry, mapped, inventory, root_disk)
    if path.startswith("/dev/dm-") or path.count("/") > 2:
        return ResolvedEntry(
            entry, "missing",
            note=f"{printable(path)} is a device-mapper or udev path; open the LVM/LUKS device "
            "first, or change the entry to UUID=",
        )
    m = _PART_NUMBER.search(path)
    if m:
        number = int(m.group(1))
        same = [
            d for d in inventory.partitions_of(root_disk) if d.identity.partition_number == number
        ]
        if len(same) == 1:
            return ResolvedEntry(
                entry, "skipped" if entry.kind == "swap" else "resolved", same[0].path,
                note=f"by partition number {number} on the root's disk; fstab should use UUID=",
            )
    return ResolvedEntry(entry, "missing", note=f"no partition on {root_disk} matches {path}")


def _device_mapper_name(path: str) -> str | None:
    """The device-mapper name an fstab path stands for: `/dev/mapper/rootvg-homelv` as is,
    LVM's `/dev/rootvg/homelv` as `rootvg-homelv` (a dash inside a name doubled)."""
    if path.startswith("/dev/mapper/"):
        name = path.removeprefix("/dev/mapper/")
        return name if name and "/" not in name else None
    parts = path.split("/")
    if len(parts) == 4 and parts[1] == "dev" and parts[2] not in _NOT_VOLUME_GROUPS:
        vg, lv = parts[2], parts[3]
        return f"{vg.replace('-', '--')}-{lv.replace('-', '--')}" if vg and lv else None
    return None


def _choose_mapped(entry: FstabEntry, name: str, inventory: Inventory,
                   root_disk: str) -> ResolvedEntry:
    """The broken system's logical volume or opened LUKS device of that name, opened from the
    chosen disk: never the rescue system's own nor another disk's, and under its temporary
    name when it is a copy of the rescue system's own volume group (core/lvm.py)."""
    copy = LVM_COPY_PREFIX + name
    named = [d for d in inventory.devices if d.dm_name in (name, copy) and not d.rescue_own]
    chosen = chosen_disk_devices(inventory, root_disk)
    found = [d for d in named if d.path in chosen]
    found.sort(key=lambda d: d.dm_name != copy)
    if named and not found:
        return _elsewhere(entry, named)
    if not found:
        return ResolvedEntry(
            entry, "missing",
            note=f"no opened device-mapper device is named {printable(name)}; open the LVM/LUKS "
            "device first (it may be on another disk), or change the entry to UUID=")
    device = found[0]
    status = "skipped" if entry.kind == "swap" else "resolved"
    note = (f"the copy of the volume group, open as {device.dm_name}"
            if device.dm_name == copy else "")
    return ResolvedEntry(entry, status, device.path, note)


def resolve_fstab(fstab: Fstab, inventory: Inventory, root_disk: str) -> list[ResolvedEntry]:
    return [resolve_entry(e, inventory, root_disk) for e in fstab.entries]
