"""A practice disk whose root is on LVM, as RHEL-family cloud images have it: one partition, a
volume group `rootvg` with the logical volumes `root` and `var`, and an fstab naming them by
their /dev/mapper and /dev/<vg>/<lv> paths.

Built without device-mapper (this lab's build host may have none): the logical volumes are
written into LVM's metadata with vgcfgrestore, which needs no kernel target, and their
filesystems are made through loop devices at the volumes' offsets on the disk. Two copies of
this disk side by side are what a repair VM made from the same image sees.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rescuetui.core.lvm import only_devices
from rescuetui.core.mountstack import MountStack
from rescuetui.core.session import remove_session_dirs
from rescuetui.core.state import SessionState
from rescuetui.core.tools import tool

EXTENT = 4 * 1024 * 1024  # LVM's default extent size
PART_START = 1024 * 1024  # the partition starts at 1 MiB
OS_RELEASE = b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
ID=debian
"""


@dataclass(frozen=True)
class Volume:
    name: str
    extents: int
    mountpoint: str
    uuid: str


VOLUMES = (Volume("root", 12, "/", "3b1c0f4e-6a51-4f47-9d3e-0c5d1e7a2b01"),
           Volume("var", 6, "/var", "3b1c0f4e-6a51-4f47-9d3e-0c5d1e7a2b02"))


def write_volume_group(pv: str, vg: str, volumes: tuple[Volume, ...] = VOLUMES) -> None:
    """Make `pv` a physical volume of a new volume group `vg` holding `volumes`, one after the
    other from extent 0 (LVM seeing only `pv`)."""
    config = only_devices([pv])

    def lvm(*argv: str) -> str:
        return tool(argv[0], "--config", config, *argv[1:])

    lvm("pvcreate", "-q", pv)
    lvm("vgcreate", "-q", vg, pv)
    with tempfile.TemporaryDirectory() as tmp:
        metadata = Path(tmp) / f"{vg}.vg"
        lvm("vgcfgbackup", "-q", "--file", str(metadata), vg)
        text = metadata.read_text()
        sections, start = [], 0
        for number, volume in enumerate(volumes):
            sections.append(f"""
        {volume.name} {{
            id = "{_lv_uuid(number)}"
            status = ["READ", "WRITE", "VISIBLE"]
            flags = []
            segment_count = 1
            segment1 {{
                start_extent = 0
                extent_count = {volume.extents}
                type = "striped"
                stripe_count = 1
                stripes = ["pv0", {start}]
            }}
        }}""")
            start += volume.extents
        cut = text.rstrip().rfind("}")
        metadata.write_text(text[:cut] + "\n    logical_volumes {" + "".join(sections)
                            + "\n    }\n" + text[cut:])
        lvm("vgcfgrestore", "-q", "--file", str(metadata), vg)


def _lv_uuid(number: int) -> str:
    return f"RESCUE-TUIL-VOL{number}-AAAA-BBBB-CCCC-DDDDDD"[:38]


def pe_start(pv: str) -> int:
    """Where the first extent begins on `pv`, in bytes."""
    out = tool("pvs", "--config", only_devices([pv]), "--noheadings", "--units", "b",
               "--nosuffix", "-o", "pe_start", pv)
    return int(out.strip())


def identity(pv: str) -> dict[str, object]:
    """Everything that names the volume group on `pv`: PV and VG UUIDs, VG name, its volumes
    with their UUIDs and extents; read with LVM seeing `pv` alone."""
    config = only_devices([pv])
    (row,) = json.loads(tool("pvs", "--config", config, "--reportformat", "json", "-o",
                             "pv_uuid,vg_name,vg_uuid", pv))["report"][0]["pv"]
    lvs = json.loads(tool("lvs", "--config", config, "--reportformat", "json", "-o",
                          "lv_name,lv_uuid,seg_pe_ranges"))["report"][0]["lv"]
    for lv in lvs:  # the extents; the device name before them is the host's loop device
        lv["seg_pe_ranges"] = lv["seg_pe_ranges"].rpartition(":")[2]
    return {**row, "lvs": lvs}


def data_digest(image: Path, pv: str) -> str:
    """sha256 of the disk image after `pv`'s metadata area (where the volumes' data lives)."""
    digest = hashlib.sha256()
    with image.open("rb") as f:
        f.seek(PART_START + pe_start(pv))
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def build_lvm_disk(image: Path, *, vg: str = "rootvg", size_mb: int = 128,
                   files: dict[str, bytes] | None = None) -> None:
    """The disk image: partition 1 an LVM PV of `vg`, ext4 on each volume, a minimal Debian
    root (os-release, fstab) and `files` (paths under / or /var)."""
    with open(image, "wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    subprocess.run(["sfdisk", "-q", str(image)], input=f"start={PART_START // 512}, type=8e\n",
                   text=True, check=True)
    stack = MountStack(SessionState.create())
    try:
        loop = stack.attach_image(image)
        pv = f"{loop}p1"
        write_volume_group(pv, vg)
        first = PART_START + pe_start(pv)
    finally:
        problems = stack.teardown()
        remove_session_dirs(stack.state.directory)
    if problems:
        raise RuntimeError("; ".join(problems))
    fstab = "".join(
        f"{'/dev/mapper/' + vg + '-' + v.name if v.mountpoint == '/' else f'/dev/{vg}/{v.name}'}"
        f" {v.mountpoint} ext4 defaults 0 {1 if v.mountpoint == '/' else 2}\n" for v in VOLUMES)
    content = {"/etc/os-release": OS_RELEASE, "/etc/fstab": fstab.encode(),
               "/var/lib/rescuetui-practice": b"on the var volume\n", **(files or {})}
    offset = first
    for volume in VOLUMES:
        size = volume.extents * EXTENT
        mine = {path: data for path, data in content.items() if _volume_of(path) == volume}
        if volume.mountpoint == "/":  # the other volumes' mount points
            mine |= {f"{v.mountpoint}/": b"" for v in VOLUMES if v.mountpoint != "/"}
        _make_filesystem(image, offset, size, volume, mine)
        offset += size


def _volume_of(path: str) -> Volume:
    return next(v for v in sorted(VOLUMES, key=lambda v: -len(v.mountpoint))
                if v.mountpoint == "/" or path.startswith(v.mountpoint + "/"))


def _make_filesystem(image: Path, offset: int, size: int, volume: Volume,
                     files: dict[str, bytes]) -> None:
    loop = tool("losetup", "--find", "--show", "--offset", str(offset), "--sizelimit", str(size),
                str(image)).strip()
    try:
        tool("mkfs.ext4", "-q", "-F", "-U", volume.uuid, "-L", volume.name, loop)
        with tempfile.TemporaryDirectory(dir="/run") as where:
            tool("mount", loop, where)
            try:
                for path, data in files.items():
                    inside = Path(where) / path.removeprefix(volume.mountpoint).lstrip("/")
                    if path.endswith("/"):
                        inside.mkdir(parents=True, exist_ok=True)
                        continue
                    inside.parent.mkdir(parents=True, exist_ok=True)
                    inside.write_bytes(data)
            finally:
                tool("umount", where)
    finally:
        tool("losetup", "--detach", loop)
