"""LVM volume groups on the chosen disks, and those that are copies of the rescue system's own.

On a cloud repair VM made from the same image as the broken VM, the attached OS disk carries
the same volume group as the repair VM's own disk: same name (rootvg), same VG and PV UUIDs.
LVM then uses only one of the two copies ("WARNING: Not using device ... for PV ...") and
device-mapper cannot activate a second `rootvg-rootlv`. The known way out (Azure's repair
guide, Red Hat's for hardware snapshots) is `vgimportclone`: new UUIDs and a new name for the
copy. Left like that, the broken system no longer finds its root (`rd.lvm.lv=rootvg/rootlv`,
`/dev/mapper/rootvg-*` in fstab, PVIDs in /etc/lvm/devices/system.devices). So the identity
is saved first with `vgcfgbackup` and put back at teardown: each PV's UUID with
`pvcreate --uuid --restorefile` (it rewrites the label only; the data area is untouched), then
the metadata with `vgcfgrestore`. The disk leaves as it came.

Every LVM command here sees only the copy's devices (a regex filter, and no devices file:
RHEL 9 lists the repair VM's own disks in /etc/lvm/devices/system.devices and would hide the
attached one), so the repair VM's own volume group is never touched.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rescuetui.core.errors import RescueError
from rescuetui.core.state import SessionState
from rescuetui.core.tools import ToolError, tool
from rescuetui.core.volumes import LVM_COPY_PREFIX, device_mapper_available, no_device_mapper

_DEVICE_PATH = re.compile(r"/dev/[A-Za-z0-9/_.:+-]+")
_VG_NAME = re.compile(r"[^A-Za-z0-9+_.-]")


@dataclass(frozen=True)
class PhysicalVolume:
    device: str
    pv_uuid: str
    vg_name: str
    vg_uuid: str


def only_devices(devices: Iterable[str]) -> str:
    """An LVM `--config` under which a command sees these devices and no other."""
    accept = []
    for device in devices:
        if not _DEVICE_PATH.fullmatch(device):
            raise RescueError(f"Refusing an unusual device path for LVM: {device!r}")
        accept.append(f'"a|^{re.escape(device)}$|"')
    patterns = ", ".join([*accept, '"r|.*|"'])
    return (f"devices {{ filter = [ {patterns} ] global_filter = [ {patterns} ] "
            "use_devicesfile = 0 }")


class LabelUnreadable(RescueError):
    """LVM failed to read a device's label (not: there is none); the message says why."""


def physical_volume(device: str) -> PhysicalVolume | None:
    """What the LVM label on `device` says, read with LVM seeing that device alone (so a
    duplicate elsewhere cannot hide it). None: LVM finds no physical volume there;
    LabelUnreadable: LVM failed, so whether one is there is not known."""
    try:
        out = tool("pvs", "--config", only_devices([device]), "--reportformat", "json",
                   "-o", "pv_name,pv_uuid,vg_name,vg_uuid", device)
    except ToolError as exc:
        if "Failed to find physical volume" in exc.stderr or "No physical volume" in exc.stderr:
            return None
        raise LabelUnreadable(f"LVM could not read the label of {device}: {exc}") from exc
    try:
        rows = json.loads(out)["report"][0]["pv"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LabelUnreadable(f"LVM's report on {device} could not be read ({exc}): "
                              f"{out[:200]!r}") from exc
    if not rows:
        return None
    row = rows[0]
    return PhysicalVolume(device, row.get("pv_uuid", ""), row.get("vg_name", ""),
                          row.get("vg_uuid", ""))


def _label_or_none(device: str) -> PhysicalVolume | None:
    try:
        return physical_volume(device)
    except LabelUnreadable:
        return None  # not known to be untouched: the restore stays recorded


def clashes(copy: PhysicalVolume, others: Iterable[PhysicalVolume]) -> bool:
    """Whether `copy`'s volume group cannot live beside the others: same VG name or UUID, or
    one of its PVs has a twin."""
    return any(copy.vg_name and (other.vg_name == copy.vg_name or other.vg_uuid == copy.vg_uuid
                                 or other.pv_uuid == copy.pv_uuid)
               for other in others)


def import_copy(state: SessionState, pvs: list[PhysicalVolume], keep: Path) -> str:
    """Give the copied volume group on `pvs` a temporary name and new UUIDs (vgimportclone),
    after saving its identity in `keep` (persistent storage beside the journal, never /run: a
    reboot of the repair VM must not lose it); record in `state` how teardown puts that
    identity back. Returns the temporary name."""
    vg = pvs[0].vg_name
    if any(pv.vg_uuid != pvs[0].vg_uuid for pv in pvs):
        raise RescueError("The physical volumes given belong to different volume groups.")
    devices = [pv.device for pv in pvs]
    config = only_devices(devices)
    temporary = LVM_COPY_PREFIX + _VG_NAME.sub("_", vg)
    keep.mkdir(parents=True, exist_ok=True, mode=0o700)
    backup = keep / f"lvm-{state.directory.name}-{temporary}.vg"
    tool("vgcfgbackup", "--config", config, "--file", str(backup), vg)
    _fsync(backup)
    _check_restorable(backup, vg)
    # Teardown runs these last to first: deactivate (added by the caller), the PV labels, then
    # the metadata with the original name and UUIDs.
    # --yes: vgcfgrestore asks when LVs of the VG's UUID are active, and the rescue system's own
    # group (the same UUID, other disks, unseen here) is; only the copy's disks are written.
    restore = [["vgcfgrestore", "--config", config, "--yes", "--file", str(backup), vg]]
    restore += [["pvcreate", "--config", only_devices([pv.device]), "-ff", "--yes",
                 "--uuid", pv.pv_uuid, "--restorefile", str(backup), pv.device] for pv in pvs]
    state.opened += restore
    state.save()
    try:
        tool("vgimportclone", "--config", config, "--basevgname", temporary, *devices)
    except ToolError as exc:
        if all(_label_or_none(pv.device) == pv for pv in pvs):  # it wrote nothing
            for argv in restore:
                state.opened.remove(argv)
            state.save()
        # Otherwise the restore recorded above puts the identity back at teardown.
        if "has active LVs" in exc.stderr:
            raise RescueError(
                f"LVM has the volume group {vg} of {', '.join(devices)} active, on the copy's "
                "own disk (the system activated it when the disk appeared, instead of the "
                "rescue system's own copy), so it cannot be imported beside the other. Detach "
                "the disk, turn LVM's autoactivation off on the rescue system "
                "(auto_activation_volume_list = [] in the activation section of lvm.conf; the "
                "rescuetui live image has it), attach the disk again and start again.") from exc
        raise
    return temporary


def _fsync(path: Path) -> None:
    """The identity on the disk before anything is renamed: file and directory entry."""
    for target, flags in ((path, os.O_RDONLY), (path.parent, os.O_RDONLY | os.O_DIRECTORY)):
        fd = os.open(target, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _check_restorable(backup: Path, vg: str) -> None:
    """vgcfgrestore refuses thin pools without --force (their metadata would not match); we
    do not put a disk where we could not take it back from."""
    if "thin-pool" in backup.read_text(errors="replace"):
        raise RescueError(
            f"The volume group {vg} on the attached disk is a copy of one the rescue system "
            "uses, and it holds a thin pool, whose copy cannot be renamed and put back safely. "
            "Attach the disk to a repair VM made from a different image.")


def activate(state: SessionState, pvs: list[PhysicalVolume], name: str) -> None:
    """Activate the volume group on `pvs`, seeing only them; deactivated first at teardown."""
    config = only_devices(pv.device for pv in pvs)
    tool("vgchange", "--config", config, "--activate", "y", name)
    state.opened.append(["vgchange", "--config", config, "--activate", "n", name])
    state.save()


def volume_groups(pvs: Iterable[PhysicalVolume]) -> list[list[PhysicalVolume]]:
    """The physical volumes grouped by the volume group they belong to (by its UUID)."""
    groups: dict[str, list[PhysicalVolume]] = {}
    for pv in pvs:
        if pv.vg_uuid:
            groups.setdefault(pv.vg_uuid, []).append(pv)
    return list(groups.values())


def open_volume_group(state: SessionState, pvs: list[PhysicalVolume],
                      others: list[PhysicalVolume], keep: Path) -> tuple[str, str | None]:
    """Activate the volume group on `pvs` (all of one group, on the chosen disks). A copy of a
    group among `others` (the rescue system's own, say) is imported under a temporary name
    first. Returns the name it is active under and, for a copy, a note for the operator."""
    vg = pvs[0].vg_name
    if len({pv.pv_uuid for pv in pvs}) < len(pvs):
        raise RescueError(f"Two copies of the volume group {vg} are attached; choose the disk to "
                          "repair with --disk (or detach the other copy).")
    if not device_mapper_available():
        raise no_device_mapper(f"Activating the LVM volume group {vg}")
    if not any(clashes(pv, others) for pv in pvs):
        activate(state, pvs, vg)
        return vg, None
    temporary = import_copy(state, pvs, keep)
    activate(state, pvs, temporary)
    return temporary, (
        f"The volume group {vg} on {', '.join(pv.device for pv in pvs)} is a copy of one this "
        f"rescue system already has (same name or UUIDs, as on a repair VM made from the same "
        f"image). It is open as {temporary} for this session; its name and UUIDs are put back "
        "when rescuetui is done.")
