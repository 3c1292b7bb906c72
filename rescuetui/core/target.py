"""Finding installed Linux systems on the attached disks and describing one once it is mounted."""

from __future__ import annotations

import re
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rescuetui.core.confined import ConfinedRoot
from rescuetui.core.distros import FAMILIES, family_for
from rescuetui.core.errors import RescueError
from rescuetui.core.fstab import Fstab, FstabProblem, parse_fstab
from rescuetui.core.fstabtree import ResolvedEntry, resolve_fstab
from rescuetui.core.initramfs_builder import target_builder
from rescuetui.core.inventory import BlockDevice, Inventory
from rescuetui.core.mountpoint import held_inside
from rescuetui.core.mountstack import NO_WRITE_OPTIONS, MountStack
from rescuetui.core.osrelease import parse_os_release, parse_redhat_release
from rescuetui.core.text import ascii_number, from_disk, printable
from rescuetui.core.tools import ToolError
from rescuetui.core.volumes import LVM_COPY_PREFIX

if TYPE_CHECKING:
    from rescuetui.core.bootchain import BootChain

ROOT_FSTYPES = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "jfs", "reiserfs"})
# Where btrfs installers put the root subvolume (Ubuntu `@`, others `root`, `@rootfs`).
BTRFS_ROOT_SUBVOLS = ("@", "@rootfs", "root")
_ELF_MACHINES = {3: "i686", 62: "x86_64", 183: "aarch64", 40: "arm", 21: "ppc64", 22: "s390x",
                 243: "riscv64"}


@dataclass(frozen=True)
class Candidate:
    """A filesystem that holds an installed system's root (os-release or redhat-release, fstab)."""

    device: BlockDevice
    subdir: str  # "" or the btrfs subvolume that holds the root
    os_release: dict[str, str]

    @property
    def name(self) -> str:
        return self.os_release.get("PRETTY_NAME") or self.os_release.get("NAME") or "Linux"


@dataclass(frozen=True)
class Kernel:
    version: str
    image: str | None
    image_size: int | None
    modules: str | None
    initramfs: str
    initramfs_size: int | None  # None: the initramfs file is missing

    def to_json(self) -> dict[str, Any]:
        return {
            "version": printable(self.version),
            "image": self.image,
            "image_size": self.image_size,
            "modules": self.modules,
            "initramfs": self.initramfs,
            "initramfs_present": self.initramfs_size is not None,
            "initramfs_size": self.initramfs_size,
        }


@dataclass
class TargetSystem:
    device: str
    disk: str
    fstype: str | None
    uuid: str | None
    subdir: str
    os_release: dict[str, str]
    family: str | None
    arch: str | None
    kernels: list[Kernel]
    boot_mode: str  # "bios", "uefi", ...; "not read" when the boot chain was not read
    esp: str | None
    bootloader_config: str | None
    fstab: list[ResolvedEntry]
    fstab_problems: list[FstabProblem]
    notes: list[str] = field(default_factory=list)
    boot_chain: BootChain | None = None
    root_specs: list[str] = field(default_factory=list)  # every root= that names this root
    # The initramfs builder installed and able to run (dracut, initramfs-tools, mkinitcpio).
    initramfs_builder: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "disk": self.disk,
            "fstype": self.fstype,
            "uuid": printable(self.uuid) if self.uuid else None,
            "subvolume": self.subdir or None,
            "distro": {
                "id": printable(self.os_release.get("ID", "")),
                "version": printable(self.os_release.get("VERSION_ID", "")),
                "name": printable(self.os_release.get("PRETTY_NAME", "")),
                "family": self.family,
            },
            "arch": self.arch,
            "kernels": [k.to_json() for k in self.kernels],
            "boot_mode": self.boot_mode,
            "esp": self.esp,
            "bootloader_config": self.bootloader_config,
            "fstab": [r.to_json() for r in self.fstab],
            "fstab_problems": [
                {"line": p.line_number, "text": printable(p.raw), "problem": p.message}
                for p in self.fstab_problems
            ],
            "notes": self.notes,
            "boot_chain": self.boot_chain.to_json() if self.boot_chain else None,
            "initramfs_builder": self.initramfs_builder,
        }


def read_release(root: Path) -> dict[str, str] | None:
    """os-release (or redhat-release) of the system whose root is mounted at `root`."""
    files = ConfinedRoot(root)
    for name, parse in (("/etc/os-release", parse_os_release),
                        ("/usr/lib/os-release", parse_os_release),
                        ("/etc/redhat-release", parse_redhat_release)):
        found = files.read(name, 65536)
        if found is not None:
            return parse(from_disk(found))
    return None


def _root_dir(mounted: Path, fstype: str | None) -> tuple[str, Path] | None:
    """The subdirectory of the filesystem mounted at `mounted` that holds a system's root ("" or
    a btrfs subvolume), with its host path."""
    subdirs = ("",) + (BTRFS_ROOT_SUBVOLS if fstype == "btrfs" else ())
    for sub in subdirs:
        root = _subvolume(mounted, sub) if sub else mounted
        if (root is not None and ConfinedRoot(root).is_file("/etc/fstab")
                and read_release(root) is not None):
            return sub, root
    return None


def _subvolume(mounted: Path, sub: str) -> Path | None:
    """The host path of the directory `sub` at the top of `mounted` (a link there is no
    subvolume, and is not taken)."""
    if ConfinedRoot(mounted).is_symlink(sub):
        return None
    try:
        with held_inside(mounted, sub) as held:
            return held.host
    except OSError:
        return None


def find_candidates(
    inventory: Inventory, stack: MountStack, disks: list[str] | None = None
) -> list[Candidate]:
    """Mount each filesystem that could be a root, read-only and without journal replay, look for
    an installed system, and unmount it again. The rescue system's own disks are left alone."""
    candidates = []
    probe_base = stack.state.directory / "probe"
    for dev in inventory.devices:
        if dev.rescue_own or (disks is not None and dev.whole_disk not in disks):
            continue
        if dev.fstype not in ROOT_FSTYPES or dev.identity.error:
            continue
        if dev.mountpoints:
            mounted, ours = Path(dev.mountpoints[0]), False
        else:
            mounted, ours = probe_base / dev.name, True
            mounted.mkdir(parents=True, exist_ok=True)
            try:
                stack.mount(dev.path, mounted, fstype=dev.fstype,
                            options=["ro", *NO_WRITE_OPTIONS.get(dev.fstype or "", [])],
                            kind="probe")
            except ToolError:
                mounted.rmdir()
                continue
        try:
            found = _root_dir(mounted, dev.fstype)
            if found is not None:
                sub, root = found
                candidates.append(Candidate(dev, sub, read_release(root) or {}))
        finally:
            if ours:
                stack.unmount_last()
                mounted.rmdir()
    return candidates


def choose_candidate(candidates: list[Candidate], root: str | None, where: str) -> Candidate:
    """The one candidate to work on, or an error that says how to pick."""
    if root:
        chosen = [c for c in candidates if c.device.path == root]
        if not chosen:
            raise RescueError(f"{root} holds no installed Linux system ({where}).")
        return chosen[0]
    if not candidates:
        raise RescueError(
            f"No installed Linux system found on {where}: no filesystem holds /etc/os-release and "
            "/etc/fstab. Check that the right disk is attached (`rescuetui scan`), and unlock "
            "encrypted or LVM devices first."
        )
    if len(candidates) > 1:
        listing = "; ".join(f"{c.device.path} ({printable(c.name)})" for c in candidates)
        raise RescueError(f"Several installed systems were found: {listing}. Choose one with --root.")
    return candidates[0]


MAX_FSTAB_BYTES = 1 << 20


def read_fstab(root: Path) -> Fstab:
    found = ConfinedRoot(root).read("/etc/fstab", MAX_FSTAB_BYTES)
    return parse_fstab(from_disk(found) if found is not None else "")


def describe_target(root: Path, candidate: Candidate, inventory: Inventory, *,
                    boot_chain: bool = True) -> TargetSystem:
    """Everything about a mounted target: distro, kernels, boot mode, fstab tree, and (unless
    `boot_chain` is False: `rescuetui run` and `shell` need none of it) its boot chain.

    `root` must have the target's fstab tree mounted below it (a separate /boot, /usr), or the
    kernels on those filesystems are not seen.
    """
    dev = candidate.device
    release = candidate.os_release
    family = family_for(release)
    fstab = read_fstab(root)
    resolved = resolve_fstab(fstab, inventory, dev.whole_disk)
    notes = []
    root_entry = next((r for r in resolved if r.entry.mountpoint == "/"), None)
    if root_entry is None:
        notes.append("/etc/fstab has no entry for /")
    elif root_entry.device != dev.path:
        notes.append(
            f"/etc/fstab line {root_entry.entry.line_number} names "
            f"{printable(root_entry.entry.spec)} for /, which is not {dev.path}, the root found"
        )
    esp_entry = next((r for r in resolved if r.entry.mountpoint in ("/boot/efi", "/efi")), None)
    esp = next((d.path for d in inventory.on_disk(dev.whole_disk) if d.is_esp), None)
    if esp is None and esp_entry is not None and esp_entry.status == "resolved":
        esp = esp_entry.device
    chain = None
    if boot_chain:
        from rescuetui.core.bootchain import describe_boot_chain

        chain = describe_boot_chain(root, boot_disk(dev, resolved, inventory), inventory,
                                    esp_device=esp, esp_in_fstab=esp_entry is not None)
    return TargetSystem(
        device=dev.path,
        disk=dev.whole_disk,
        fstype=dev.fstype,
        uuid=dev.identity.uuid,
        subdir=candidate.subdir,
        os_release=release,
        family=family.name if family else None,
        arch=_architecture(root),
        kernels=list_kernels(root, family.initramfs_name if family else None),
        boot_mode=chain.firmware if chain else "not read",
        esp=esp,
        bootloader_config=_bootloader_config(root, release),
        fstab=resolved,
        fstab_problems=list(fstab.problems),
        notes=notes,
        boot_chain=chain,
        root_specs=root_specs(dev),
        initramfs_builder=builder.name if (builder := target_builder(
            root, family.name if family else None)) else None,
    )


DM_NAME = re.compile(r"^((?:[^-]|--)+)-((?:[^-]|--)+)$")


def root_specs(device: BlockDevice) -> list[str]:
    """The ways a kernel command line or fstab may name this root filesystem: by UUID,
    PARTUUID, LABEL, and for a logical volume /dev/mapper/VG-LV and /dev/VG/LV (under the
    group's own name, not the temporary one of an imported copy)."""
    ident = device.identity
    specs = [f"{tag}={value}" for tag, value in (("UUID", ident.uuid),
             ("PARTUUID", ident.partuuid), ("LABEL", ident.label)) if value]
    if device.dm_name:
        name = device.dm_name.removeprefix(LVM_COPY_PREFIX)
        specs.append(f"/dev/mapper/{name}")
        match = DM_NAME.match(name)
        if match:
            vg, lv = (part.replace("--", "-") for part in match.groups())
            specs.append(f"/dev/{vg}/{lv}")
    return specs


def boot_disk(root_device: BlockDevice, fstab: list[ResolvedEntry], inventory: Inventory) -> str:
    """The whole disk the firmware boots from: the one holding /boot (or root), through LVM,
    LUKS and md layers down to the partitioned disk."""
    boot = next((r.device for r in fstab if r.entry.mountpoint == "/boot" and r.device), None)
    device = inventory.get(boot) if boot else None
    device = device or root_device
    if device.dm_name or device.name.startswith("md"):
        below = sorted(inventory.disks_below(device))
        if len(below) == 1:
            return below[0]
    return device.whole_disk


# What a kernel version (a /lib/modules directory, a vmlinuz- suffix, an Arch pkgbase) looks
# like: ASCII letters, digits and . + _ ~ -. Anything else on a disk is not taken for a kernel.
KERNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_~-]{0,127}")


def list_kernels(root: Path, initramfs_name: Any = None) -> list[Kernel]:
    """Kernels found in /boot and /lib/modules, newest version first."""
    files = ConfinedRoot(root)
    versions: dict[str, str | None] = {}  # version -> package base name (Arch) or None
    for image in files.listdir("/boot"):
        version = image.removeprefix("vmlinuz-")
        if image.startswith("vmlinuz-") and KERNEL_NAME.fullmatch(version):
            versions.setdefault(version, None)
    for name in files.listdir("/lib/modules"):
        if not KERNEL_NAME.fullmatch(name):
            continue  # not a kernel's name: never passed to a command or shown as one
        found = files.read(f"/lib/modules/{name}/pkgbase", 256)
        base = from_disk(found).strip() if found else None
        if base and not KERNEL_NAME.fullmatch(base):
            base = None
        if base:
            versions.pop(base, None)
        versions[name] = base
    kernels = []
    for version, base in versions.items():
        name = base or version
        image = f"/boot/vmlinuz-{name}"
        initrd_name = initramfs_name(name) if initramfs_name else f"initrd.img-{name}"
        kernels.append(
            Kernel(
                version=version,
                image=image if files.exists(image) else None,
                image_size=_size(files, image),
                modules=(f"/lib/modules/{version}"
                         if files.is_dir(f"/lib/modules/{version}") else None),
                initramfs=f"/boot/{initrd_name}",
                initramfs_size=_size(files, f"/boot/{initrd_name}"),
            )
        )
    return sorted(kernels, key=lambda k: _version_key(k.version), reverse=True)


def _size(files: ConfinedRoot, path: str) -> int | None:
    st = files.stat(path)
    return st.st_size if st is not None and stat.S_ISREG(st.st_mode) else None


def _version_key(version: str) -> list[tuple[int, str]]:
    parts = re.split(r"[.\-+_~]", version)
    return [(n, "") if (n := ascii_number(p)) is not None else (-1, p) for p in parts]


def _architecture(root: Path) -> str | None:
    files = ConfinedRoot(root)
    for candidate in ("/bin/sh", "/sbin/init", "/usr/bin/env"):
        header = files.read(candidate, 20)
        if header is None:
            continue
        if header[:4] != b"\x7fELF" or len(header) < 20:
            continue
        endian = "<" if header[5] == 1 else ">"
        machine = struct.unpack(endian + "H", header[18:20])[0]
        arch = _ELF_MACHINES.get(machine)
        if arch == "ppc64" and endian == "<":
            arch = "ppc64le"
        return arch
    return None


def _bootloader_config(root: Path, release: dict[str, str]) -> str | None:
    family = family_for(release)
    paths = family.bootloader_configs if family else tuple(
        p for f in FAMILIES for p in f.bootloader_configs
    )
    ident = release.get("ID", "")
    files = ConfinedRoot(root)
    for path in paths:
        target = path.format(id=ident)
        if files.exists(target):
            return target
    return None
