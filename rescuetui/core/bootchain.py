"""The target's boot chain below the kernel: firmware mode, GRUB's boot code and core image on the
disk, GRUB's platform directories, the ESP's loaders, BLS entries and grubenv.

Everything here is read, never written: the first MiB of the chosen disk (bounded), files of the
mounted target (resolved inside its root), and the ESP through mtools, which reads a FAT
filesystem without the host kernel mounting it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rescuetui.core.confined import ConfinedRoot
from rescuetui.core.diskbytes import DiskRegion, read_region
from rescuetui.core.esp import EspContents, read_esp
from rescuetui.core.inventory import BlockDevice, Inventory
from rescuetui.core.text import from_disk, printable

SECTOR = 512
HEAD_BYTES = 1 << 20  # the MBR and the post-MBR gap of a disk partitioned the usual way
BOOT_CODE_BYTES = 440  # bytes 440-511 are the disk signature and the partition table
GRUB_KERNEL_SECTOR_OFFSET = 0x5C  # boot.img: LBA of core.img's first sector (diskboot.img)
GRUB_PLATFORMS = ("i386-pc", "x86_64-efi", "arm64-efi", "i386-efi")
GRUB_DIRS = ("/boot/grub", "/boot/grub2")
MAX_ENTRY_BYTES = 65536
GRUBENV_SIZE = 1024
# What other boot loaders' MBR code says about itself: never overwritten by a GRUB reinstall.
OTHER_BOOT_CODE = (
    (b"Invalid partition table", "windows"),
    (b"Missing operating system", "windows"),
    (b"LILO", "lilo"),
    (b"SYSLINUX", "syslinux"),
    (b"ISOLINUX", "isolinux"),
)


@dataclass
class BiosBoot:
    """What BIOS firmware runs from this disk: the MBR's boot code and the image it loads."""

    boot_code: str  # grub, none, windows, lilo, syslinux, isolinux, unknown
    signature: bool  # 0x55AA at bytes 510-511
    core_sector: int | None = None  # where GRUB's boot.img looks for core.img
    core_place: str | None = None  # post-mbr-gap, bios-boot-partition, partition, outside
    core_ok: bool = False
    core_problem: str = ""
    gap: DiskRegion | None = None  # sectors between the MBR and the first partition
    bios_boot_partition: DiskRegion | None = None

    def to_json(self) -> dict[str, Any]:
        return {"boot_code": self.boot_code, "signature": self.signature,
                "core_sector": self.core_sector, "core_place": self.core_place,
                "core_ok": self.core_ok, "core_problem": self.core_problem,
                "gap": self.gap.to_json() if self.gap else None,
                "bios_boot_partition": (self.bios_boot_partition.to_json()
                                        if self.bios_boot_partition else None)}


@dataclass
class GrubPlatform:
    """One of GRUB's module directories (/boot/grub/i386-pc): what the core image loads."""

    name: str
    directory: str
    modules: list[str]
    core_image: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "directory": self.directory, "modules": len(self.modules),
                "normal_mod": "normal" in self.modules, "core_image": self.core_image}


@dataclass
class BlsEntry:
    """A Boot Loader Specification entry (/boot/loader/entries/*.conf)."""

    file: str
    title: str = ""
    version: str = ""
    linux: str = ""
    initrd: list[str] = field(default_factory=list)
    options: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"file": printable(self.file), "title": printable(self.title),
                "version": printable(self.version), "linux": printable(self.linux),
                "initrd": [printable(i) for i in self.initrd], "options": printable(self.options)}


@dataclass
class BootChain:
    layout: DiskLayout  # what it was read against: the disk, its partitions, its ESP
    firmware: str  # bios, uefi, uefi+bios, unknown
    evidence: list[str]
    bios: BiosBoot | None
    grub_dir: str | None
    platforms: list[GrubPlatform]
    esp: EspContents | None
    bls: list[BlsEntry]
    grubenv: dict[str, str]

    @property
    def disk(self) -> str:
        """The whole disk the firmware boots from."""
        return self.layout.disk

    def reread(self, root: Path) -> BootChain:
        """The chain as it is now (after a fix wrote boot code or files)."""
        return read_boot_chain(root, self.layout)

    @property
    def boots_bios(self) -> bool:
        return "bios" in self.firmware

    @property
    def boots_uefi(self) -> bool:
        return "uefi" in self.firmware

    def span(self, device: str) -> PartitionSpan | None:
        return next((s for s in self.layout.spans if s.device == device), None)

    def platform(self, name: str) -> GrubPlatform | None:
        return next((p for p in self.platforms if p.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {"disk": self.disk, "firmware": self.firmware, "evidence": self.evidence,
                "bios": self.bios.to_json() if self.bios else None,
                "grub_dir": self.grub_dir,
                "grub_platforms": [p.to_json() for p in self.platforms],
                "esp": self.esp.to_json() if self.esp else None,
                "bls_entries": [e.to_json() for e in self.bls],
                "grubenv": {printable(k): printable(v) for k, v in self.grubenv.items()}}


# -- the disk's first MiB ---------------------------------------------------------------------


def read_disk_head(disk: str, length: int = HEAD_BYTES) -> bytes:
    """The first `length` bytes of the whole disk (less when the disk is smaller)."""
    return read_region(disk, 0, length)


def boot_code_kind(mbr: bytes) -> str:
    code = mbr[:BOOT_CODE_BYTES]
    if not code.strip(b"\x00"):
        return "none"
    if b"GRUB \x00Geom\x00Hard Disk\x00Read\x00 Error" in code:
        return "grub"
    for marker, kind in OTHER_BOOT_CODE:
        if marker in code:
            return kind
    return "unknown"


@dataclass(frozen=True)
class PartitionSpan:
    number: int
    start: int  # sectors
    size: int
    bios_boot: bool
    device: str = ""

    @property
    def region(self) -> DiskRegion:
        return DiskRegion(self.start * SECTOR, self.size * SECTOR, f"partition {self.number}")


def partition_spans(inventory: Inventory, disk: str, sysfs: Path = Path("/sys/class/block")
                    ) -> list[PartitionSpan]:
    """The disk's partitions with their start and size in sectors, from sysfs."""
    spans = []
    for part in inventory.partitions_of(disk):
        try:
            start = int((sysfs / part.name / "start").read_text())
            size = int((sysfs / part.name / "size").read_text())
        except (OSError, ValueError):
            continue
        spans.append(PartitionSpan(part.identity.partition_number or 0, start, size,
                                   part.is_bios_boot, part.path))
    return sorted(spans, key=lambda s: s.start)


def read_bios_boot(head: bytes, spans: list[PartitionSpan], table: str | None,
                   read: Callable[[int, int], bytes] | None = None) -> BiosBoot:
    """The MBR's boot code and, for GRUB, where its core image is and whether it is whole.
    `read(offset, length)` reads the disk beyond `head` (a BIOS boot partition further out)."""
    mbr = head[:SECTOR]
    bios = BiosBoot(boot_code_kind(mbr), mbr[510:512] == b"\x55\xaa")
    first = spans[0].start if spans else 2048
    # GPT keeps its header and entries in sectors 1-33: only msdos disks have a usable gap.
    if table == "dos" and first > 1:
        bios.gap = DiskRegion(SECTOR, (first - 1) * SECTOR, "the post-MBR gap")
    boot_part = next((s for s in spans if s.bios_boot), None)
    if boot_part:
        bios.bios_boot_partition = replace(
            boot_part.region, what=f"the BIOS boot partition (partition {boot_part.number})")
    if bios.boot_code != "grub":
        return bios
    sector = struct.unpack_from("<Q", mbr, GRUB_KERNEL_SECTOR_OFFSET)[0]
    bios.core_sector = sector
    if boot_part and boot_part.start <= sector < boot_part.start + boot_part.size:
        bios.core_place = "bios-boot-partition"
        limit = boot_part.start + boot_part.size
    elif 0 < sector < first and table == "dos":
        bios.core_place = "post-mbr-gap"
        limit = first
    elif any(s.start <= sector < s.start + s.size for s in spans):
        bios.core_place = "partition"  # a blocklist install: fragile, but it may boot
        bios.core_ok, bios.core_problem = True, ""
        return bios
    else:
        bios.core_place = "outside"
        bios.core_problem = (f"boot.img points at sector {sector}, which is in no partition "
                             "and not in the post-MBR gap")
        return bios
    if (sector + 1) * SECTOR > len(head):
        if read is None:
            bios.core_problem = f"sector {sector} lies beyond what was read of the disk"
            return bios
        # The core image's first two sectors, placed where _core_image_whole looks for them.
        head = b"\x00" * (sector * SECTOR) + read(sector * SECTOR, SECTOR * 2)
    bios.core_ok, bios.core_problem = _core_image_whole(head, sector, limit)
    return bios


def _core_image_whole(head: bytes, sector: int, limit: int) -> tuple[bool, str]:
    """diskboot.img (core.img's first sector) carries the string "loading" and, in its last
    12 bytes, the blocklist of the rest: start sector (8 bytes), sector count (2)."""
    first = head[sector * SECTOR:(sector + 1) * SECTOR]
    if b"loading\x00" not in first:
        return False, (f"sector {sector}, where boot.img looks for GRUB's core image, does not "
                       "hold one (no diskboot.img)")
    start, count = struct.unpack_from("<QH", first, SECTOR - 12)
    if count == 0 or start + count > limit:
        return False, (f"the core image's block list ({count} sectors from {start}) runs past "
                       "the space it was installed in")
    rest = head[start * SECTOR:(start + 1) * SECTOR] if (start + 1) * SECTOR <= len(head) else b"?"
    if not rest.strip(b"\x00"):
        return False, f"the core image's body at sector {start} is zeroed"
    return True, ""


# -- the mounted target -----------------------------------------------------------------------


def grub_dir(root: Path) -> str | None:
    files = ConfinedRoot(root)
    return next((d for d in GRUB_DIRS if files.is_dir(d)), None)


def grub_platforms(root: Path, directory: str | None) -> list[GrubPlatform]:
    if directory is None:
        return []
    files = ConfinedRoot(root)
    found = []
    for name in GRUB_PLATFORMS:
        where = f"{directory}/{name}"
        if not files.is_dir(where):
            continue
        modules = sorted(n.removesuffix(".mod") for n in files.listdir(where)
                         if n.endswith(".mod"))
        core = files.is_file(f"{where}/core.img") or files.is_file(f"{where}/core.efi")
        found.append(GrubPlatform(name, where, modules, core))
    return found


def module_dependencies(root: Path, platform_dir: str) -> dict[str, list[str]]:
    """moddep.lst of a platform directory: each module and the modules it needs."""
    found = ConfinedRoot(root).read(f"{platform_dir}/moddep.lst", MAX_ENTRY_BYTES * 4)
    text = from_disk(found) if found is not None else ""
    deps: dict[str, list[str]] = {}
    for line in text.splitlines():
        name, _, needs = line.partition(":")
        if name.strip():
            deps[name.strip()] = needs.split()
    return deps


def read_bls_entries(root: Path) -> list[BlsEntry]:
    files = ConfinedRoot(root)
    confs = [e for e in files.entries("/boot/loader/entries") if e.name.endswith(".conf")]
    entries = []
    for conf in confs[:200]:
        if not conf.is_file:  # a link, a FIFO, a directory: not an entry
            continue
        found = files.read(conf.path, MAX_ENTRY_BYTES)
        if found is None:
            continue
        entry = BlsEntry(f"/boot/loader/entries/{conf.name}")
        for line in from_disk(found).splitlines():
            key, _, value = line.strip().partition(" ")
            value = value.strip()
            if key == "title":
                entry.title = value
            elif key == "version":
                entry.version = value
            elif key in ("linux", "efi"):
                entry.linux = value
            elif key == "initrd":
                entry.initrd += value.split()
            elif key == "options":
                entry.options = (entry.options + " " + value).strip()
        entries.append(entry)
    return entries


def read_grubenv(root: Path, directory: str | None) -> dict[str, str]:
    """GRUB's environment block: a 1024-byte file of NAME=value lines padded with #."""
    if directory is None:
        return {}
    found = ConfinedRoot(root).read(f"{directory}/grubenv", 4096)
    if found is None:
        return {}
    values = {}
    for line in from_disk(found).splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name] = value
    return values


def grubenv_bytes(block: str) -> bytes | None:
    """grubenv text (its # padding stripped) as GRUB keeps it: exactly 1024 bytes, padded with
    #; None when it does not fit."""
    data = block.encode("utf-8", "surrogateescape")
    return data + b"#" * (GRUBENV_SIZE - len(data)) if len(data) <= GRUBENV_SIZE else None


@dataclass(frozen=True)
class DiskLayout:
    """What the boot chain is read against: the disk, its table and partitions, its ESP."""

    disk: str
    table: str | None
    spans: tuple[PartitionSpan, ...]
    esp_device: str | None
    esp_in_fstab: bool


def describe_boot_chain(root: Path, disk: str, inventory: Inventory, *,
                        esp_device: str | None, esp_in_fstab: bool) -> BootChain:
    """Everything below the kernel, for the target mounted at `root` whose disk is `disk`."""
    disk_dev: BlockDevice | None = inventory.get(disk)
    table = disk_dev.identity.partition_table if disk_dev else None
    layout = DiskLayout(disk, table, tuple(partition_spans(inventory, disk)), esp_device,
                        esp_in_fstab)
    return read_boot_chain(root, layout)


def read_boot_chain(root: Path, layout: DiskLayout) -> BootChain:
    disk, table, spans = layout.disk, layout.table, list(layout.spans)
    esp_device, esp_in_fstab = layout.esp_device, layout.esp_in_fstab
    evidence: list[str] = []
    bios: BiosBoot | None = None
    try:
        bios = read_bios_boot(read_disk_head(disk), spans, table,
                              lambda offset, length: read_region(disk, offset, length))
    except OSError as exc:
        evidence.append(f"the first MiB of {disk} could not be read: {exc.strerror}")
    directory = grub_dir(root)
    platforms = grub_platforms(root, directory)
    esp = read_esp(esp_device) if esp_device else None
    bios_signs = []
    if bios and bios.boot_code != "none":
        bios_signs.append(f"{bios.boot_code} boot code in the MBR")
    if any(s.bios_boot for s in spans):
        bios_signs.append("a BIOS boot partition")
    if any(p.name == "i386-pc" for p in platforms):
        bios_signs.append(f"{directory}/i386-pc")
    uefi_signs = []
    if esp_device:
        uefi_signs.append(f"an EFI system partition ({esp_device})")
    if esp_in_fstab:
        uefi_signs.append("an ESP in /etc/fstab")
    if any(p.name.endswith("-efi") for p in platforms):
        uefi_signs.append("GRUB's EFI modules")
    # GRUB's i386-pc modules stay behind on many UEFI images (grub-pc-bin installed): alone,
    # they do not make a system boot BIOS.
    real_bios = [s for s in bios_signs if not s.endswith("i386-pc")]
    if uefi_signs and real_bios:
        firmware = "uefi+bios"
    elif uefi_signs:
        firmware = "uefi"
    elif bios_signs or table == "dos":
        firmware = "bios"
    else:
        firmware = "unknown"
    evidence += [f"BIOS: {s}" for s in bios_signs] + [f"UEFI: {s}" for s in uefi_signs]
    return BootChain(layout, firmware, evidence, bios, directory, platforms, esp,
                     read_bls_entries(root), read_grubenv(root, directory))
