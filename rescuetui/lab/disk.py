"""Builds real partitioned disk images: partition table, filesystems, files, fstab by UUID."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path

from rescuetui.core.mountinfo import mounts_below
from rescuetui.core.mountstack import MountStack
from rescuetui.core.state import SessionState
from rescuetui.core.tools import tool

# sfdisk partition types by table: (gpt, msdos)
PART_TYPES = {
    "linux": ("0FC63DAF-8483-4772-8E79-3D69D8477DE4", "83"),
    "esp": ("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "ef"),
    "swap": ("0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "82"),
    "bios": ("21686148-6449-6E6F-744E-656564454649", ""),
    "lvm": ("E6D6D379-F507-44C2-A23C-238F2A3DF928", "8e"),
    "raid": ("A19D880F-05FC-4D3B-A006-743F0F84911E", "fd"),
}


def mkfs_argv(fstype: str, device: str, uuid: str, label: str) -> list[str]:
    """The mkfs command for one filesystem with a fixed UUID (so fstab can be written first)."""
    if fstype in ("ext2", "ext3", "ext4"):
        argv = [f"mkfs.{fstype}", "-q", "-F", "-U", uuid] + (["-L", label] if label else [])
    elif fstype == "xfs":
        argv = ["mkfs.xfs", "-q", "-f", "-m", f"uuid={uuid}"] + (["-L", label] if label else [])
    elif fstype == "vfat":
        argv = ["mkfs.vfat", "-i", uuid.replace("-", "")[:8]] + (["-n", label] if label else [])
    elif fstype == "swap":
        argv = ["mkswap", "-U", uuid] + (["-L", label] if label else [])
    else:
        raise ValueError(f"no mkfs for {fstype}")
    return [*argv, device]


@dataclass
class Part:
    """One partition of a disk image to build."""

    size_mb: int | None  # None: the rest of the disk
    fstype: str | None = None  # ext4, xfs, vfat, swap, or None (left empty)
    mountpoint: str | None = None  # where the built system mounts it; also where files go
    label: str = ""
    ptype: str = "linux"
    uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    fstab_options: str = "defaults"
    partuuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))  # gpt tables only

    @property
    def fstab_uuid(self) -> str:
        if self.fstype == "vfat":
            return self.vfat_id[:4].upper() + "-" + self.vfat_id[4:].upper()
        return self.uuid

    @property
    def vfat_id(self) -> str:
        return self.uuid.replace("-", "")[:8]


@dataclass
class BuiltDisk:
    image: Path
    parts: list[Part]

    def part(self, mountpoint: str) -> Part:
        return next(p for p in self.parts if p.mountpoint == mountpoint)


def fstab_for(parts: list[Part]) -> str:
    lines = ["# /etc/fstab: built by rescuetui.lab (entries by UUID)"]
    for p in sorted(parts, key=lambda p: (p.mountpoint or "~").count("/")):
        if p.fstype == "swap":
            lines.append(f"UUID={p.fstab_uuid} none swap sw 0 0")
        elif p.mountpoint and p.fstype:
            passno = 1 if p.mountpoint == "/" else 2
            lines.append(f"UUID={p.fstab_uuid} {p.mountpoint} {p.fstype} {p.fstab_options} 0 {passno}")
    return "\n".join(lines) + "\n"


def build_disk(
    image: Path,
    parts: list[Part],
    *,
    table: str = "gpt",
    size_mb: int = 512,
    tree: Path | None = None,
    files: dict[str, bytes] | None = None,
    fstab: str | None = None,
    dirs: tuple[str, ...] = (),
    mount_kernel_types: frozenset[str] | None = None,
) -> BuiltDisk:
    """Create `image`, partition it, make the filesystems and fill them.

    `tree` (a directory, e.g. a debootstrap'd Debian) is copied in, split across the partitions
    by mount point; `dirs` are created and `files` (target path -> bytes) written after it;
    `/etc/fstab` is written from the parts unless `fstab` gives its text. Filesystems this
    kernel cannot mount (vfat here) are made but left empty.
    """
    image.unlink(missing_ok=True)
    with open(image, "wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    script = [f"label: {'gpt' if table == 'gpt' else 'dos'}"]
    for p in parts:
        kind = PART_TYPES[p.ptype][0 if table == "gpt" else 1]
        size = f"size={p.size_mb}MiB, " if p.size_mb else ""
        partuuid = f", uuid={p.partuuid}" if table == "gpt" else ""
        script.append(f"{size}type={kind}{partuuid}")
    subprocess.run(["sfdisk", "-q", str(image)], input="\n".join(script) + "\n", text=True,
                   check=True, capture_output=True)
    state = SessionState.create()
    stack = MountStack(state)
    try:
        loop = stack.attach_image(image)
        for number, p in enumerate(parts, start=1):
            if p.fstype:
                argv = mkfs_argv(p.fstype, f"{loop}p{number}", p.uuid, p.label)
                made = subprocess.run(argv, capture_output=True, text=True, check=False)
                if made.returncode:
                    raise RuntimeError(f"{' '.join(argv)} failed: {made.stderr.strip()[:300]}")
        known = mount_kernel_types or _kernel_filesystems()
        root_dir = state.directory / "build"
        mounted = [(n, p.mountpoint, p) for n, p in enumerate(parts, start=1)
                   if p.mountpoint and p.fstype in known]
        mounted.sort(key=lambda m: m[1].count("/") if m[1] != "/" else -1)
        for number, mountpoint, p in mounted:
            where = root_dir / mountpoint.lstrip("/")
            where.mkdir(parents=True, exist_ok=True)
            stack.mount(f"{loop}p{number}", where, fstype=p.fstype, kind="build")
        if tree is not None:
            subprocess.run(["cp", "-a", f"{tree}/.", str(root_dir)], check=True)
        for directory in dirs:
            (root_dir / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
        all_files = dict(files or {})
        if any(p.mountpoint == "/" for p in parts):
            all_files.setdefault("/etc/fstab", (fstab or fstab_for(parts)).encode())
        for path, data in all_files.items():
            dest = root_dir / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        problems = stack.teardown()
        if problems:
            raise RuntimeError("; ".join(problems))
    finally:
        stack.teardown()
        if not mounts_below(state.directory):
            shutil.rmtree(state.directory, ignore_errors=True)
    return BuiltDisk(image, parts)


def _kernel_filesystems() -> frozenset[str]:
    text = Path("/proc/filesystems").read_text()
    return frozenset(line.split()[-1] for line in text.splitlines() if line.strip())


def zero_bytes(device: str, length: int, offset: int = 0) -> None:
    """Overwrite `length` bytes of a device with zeros, synced (damage a practice disk)."""
    fd = os.open(device, os.O_WRONLY)
    try:
        os.pwrite(fd, b"\x00" * length, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def detach_all_for(image: Path) -> None:
    """Detach loop devices still attached to `image` (test hygiene)."""
    out = tool("losetup", "--associated", str(image), "--noheadings", "--output", "NAME")
    for name in out.split():
        tool("losetup", "--detach", name)
