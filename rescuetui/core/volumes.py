"""Opening what sits below a filesystem: LUKS encryption and md RAID arrays (LVM: core/lvm.py)."""

from __future__ import annotations

import re
from pathlib import Path

from rescuetui.core.errors import RescueError
from rescuetui.core.inventory import BlockDevice, Inventory
from rescuetui.core.state import SessionState
from rescuetui.core.tools import ToolError, tool

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
# The temporary name of an imported LVM copy (core/lvm.py): `rescuetui_rootvg`, its volumes
# `rescuetui_rootvg-*`.
LVM_COPY_PREFIX = "rescuetui_"


def device_mapper_available() -> bool:
    """Whether this kernel has the device-mapper driver that LUKS and LVM volumes need."""
    try:
        return "device-mapper" in Path("/proc/misc").read_text()
    except OSError:
        return False


def md_available() -> bool:
    return Path("/proc/mdstat").exists()


def no_device_mapper(what: str) -> RescueError:
    return RescueError(
        f"{what} needs the kernel's device-mapper driver, and this rescue kernel has none "
        "(no 'device-mapper' in /proc/misc; `modprobe dm_mod` to load it if it is a module). "
        "Boot a rescue image whose kernel has it (the rescuetui live image does), or attach the "
        "disk to a repair VM with a stock kernel."
    )


def unlock_luks(
    state: SessionState,
    device: BlockDevice,
    *,
    passphrase: bytes | None = None,
    key_file: Path | None = None,
) -> str:
    """Open a LUKS device; returns the /dev/mapper path. Closed again at teardown."""
    if not device.encrypted:
        raise RescueError(f"{device.path} is not a LUKS device (it holds {device.role}).")
    if passphrase is None and key_file is None:
        raise RescueError(f"{device.path} is encrypted: give its passphrase or a key file.")
    if not device_mapper_available():
        raise no_device_mapper(f"Unlocking {device.path}")
    name = "rescuetui-" + _SAFE_NAME.sub("_", device.name)
    args = ["open", "--type", "luks", device.path, name]
    try:
        if key_file is not None:
            tool("cryptsetup", *args, "--key-file", str(key_file))
        else:
            tool("cryptsetup", *args, "--key-file", "-", stdin=passphrase)
    except ToolError as exc:
        if exc.exit_code == 2:
            raise RescueError(f"{device.path}: the passphrase or key file is wrong.") from exc
        raise
    state.opened.append(["cryptsetup", "close", name])
    state.save()
    return f"/dev/mapper/{name}"


def assemble_array(state: SessionState, inventory: Inventory, member: BlockDevice) -> str:
    """Assemble the md RAID array `member` belongs to, from every member found."""
    if not member.raid_member:
        raise RescueError(f"{member.path} is not an md RAID member (it holds {member.role}).")
    if not md_available():
        raise RescueError(
            "This rescue kernel has no md RAID driver (/proc/mdstat is missing; `modprobe md_mod`"
            " if it is a module). Use a rescue image with md support to assemble the array."
        )
    uuid = member.identity.uuid or ""
    members = [d.path for d in inventory.devices if d.raid_member and d.identity.uuid == uuid]
    name = "/dev/md/rescuetui-" + _SAFE_NAME.sub("_", (uuid or member.name)[:8])
    tool("mdadm", "--assemble", "--run", name, *members)
    state.opened.append(["mdadm", "--stop", name])
    state.save()
    return name
