"""The UEFI practice base: the Debian 12 tree on GPT with an ESP, /boot and /, GRUB for
x86_64-efi on the fallback path, a serial console and a known root password. Built once from
the cached tree, then copied per scenario (booted under OVMF with a fresh NVRAM)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

from rescuetui.core.errors import RescueError
from rescuetui.core.session import RescueSession
from rescuetui.lab.debian import CACHE, PACKAGES, debian_tree
from rescuetui.lab.disk import BuiltDisk, Part, build_disk, fstab_for
from rescuetui.lab.practice import (
    DEFAULT_GRUB,
    cached_base,
    make_practice_system,
    root_by_uuid,
    run_in_chroot,
)

ESP_NUMBER = 1  # partition 1: the ESP; 2: /boot; 3: /
ESP_MB = 100
BOOT_MB = 256
SIZE_MB = 1536
GRUB_DIR = "/boot/grub/x86_64-efi"
# Modules built into core.efi: enough to find /boot by UUID on GPT; the rest load from there.
CORE_MODULES = ("ext2", "part_gpt", "part_msdos", "search_fs_uuid")
# Where OVMF looks on a machine whose NVRAM knows nothing of the disk, and Debian's own loader.
ESP_LOADERS = ("::/EFI/debian/grubx64.efi", "::/EFI/BOOT/BOOTX64.EFI")
# Bump when the recipe below changes, so cached bases are rebuilt.
RECIPE = "1"


def uefi_base_path(cache: Path = CACHE) -> Path:
    recipe = f"{RECIPE} {PACKAGES} {DEFAULT_GRUB} {ESP_MB} {BOOT_MB} {SIZE_MB} {CORE_MODULES}"
    key = hashlib.sha256(recipe.encode()).hexdigest()[:8]
    return cache / f"uefi-base-{key}.img"


def uefi_base(cache: Path = CACHE) -> Path:
    """The cached bootable UEFI base image, built when missing (under a minute after the tree)."""
    return cached_base(uefi_base_path(cache), lambda partial: install_uefi_boot_loader(
        gpt_esp_image(partial, cache), cache / "journal"))


def gpt_esp_image(image: Path, cache: Path = CACHE) -> BuiltDisk:
    """The Debian 12 tree on GPT: ESP (FAT32, empty) on partition 1, /boot ext4 on 2, / ext4 on
    3, fstab by UUID, as Debian's installer lays out a UEFI disk."""
    parts = [
        Part(ESP_MB, "vfat", "/boot/efi", ptype="esp", fstab_options="umask=0077"),
        Part(BOOT_MB, "ext4", "/boot", label="boot"),
        Part(None, "ext4", "/", label="root", fstab_options="errors=remount-ro"),
    ]
    esp = parts[0]
    # Debian's installer checks the ESP first (pass 1), like the root filesystem.
    fstab = fstab_for(parts).replace(f"UUID={esp.fstab_uuid} /boot/efi vfat umask=0077 0 2",
                                     f"UUID={esp.fstab_uuid} /boot/efi vfat umask=0077 0 1")
    built = build_disk(image, parts, table="gpt", size_mb=SIZE_MB, tree=debian_tree(cache),
                       fstab=fstab, dirs=("/boot/efi",))
    # mkfs.vfat picks FAT16 for 100 MiB; ESPs are FAT32. Same volume id, so fstab still holds.
    # One sector a cluster: FAT32 needs at least 65525 clusters, or readers (OVMF, mtools) take
    # it for FAT16 (left to itself on an image file, mkfs.vfat makes 8-sector clusters here).
    offset, size = partition_span(image, ESP_NUMBER)
    _host(["mkfs.vfat", "-F", "32", "-s", "1", "-h", str(offset // 512), "-i", esp.vfat_id,
           "--offset", str(offset // 512), str(image), str(size // 1024)])
    return built


def install_uefi_boot_loader(built: BuiltDisk, journal_base: Path) -> None:
    """GRUB for x86_64-efi, written without mounting the ESP (this kernel has no vfat).

    The chroot work (modules, core.efi, initramfs, grub.cfg) runs through rescuetui's own session
    and is journaled like any repair; core.efi goes onto the ESP afterwards with mtools, on the
    image file with no loop device or mount left, whatever the session did with /boot/efi.
    """
    boot_uuid = built.part("/boot").uuid
    load_cfg = f"search.fs_uuid {boot_uuid} root\nset prefix=($root)'/grub'\n"
    with tempfile.TemporaryDirectory(prefix="rescuetui-uefi-") as tmp:
        core = Path(tmp) / "core.efi"
        with RescueSession(journal_base=journal_base) as session:
            session.open_target(str(built.image))
            session.make_writable()
            journal = session.journal
            assert journal is not None and session.target is not None
            make_practice_system(session)
            run_in_chroot(session, ["mkdir", "-p", GRUB_DIR])
            run_in_chroot(session, ["sh", "-c", "cp /usr/lib/grub/x86_64-efi/*.mod "
                              "/usr/lib/grub/x86_64-efi/*.lst /usr/lib/grub/x86_64-efi/modinfo.sh "
                              f"{GRUB_DIR}/"])
            # /boot is its own filesystem: GRUB's prefix is /grub on it.
            journal.change_file(session.root, f"{GRUB_DIR}/load.cfg", load_cfg.encode(),
                                reason="practice base: core.efi finds /boot by UUID", mode=0o644)
            for argv in (
                ["grub-mkimage", "--directory", "/usr/lib/grub/x86_64-efi", "--prefix", "/grub",
                 "--config", f"{GRUB_DIR}/load.cfg", "--output", f"{GRUB_DIR}/core.efi",
                 "--format", "x86_64-efi", "--compression", "auto", *CORE_MODULES],
                # debootstrap built the initramfs before there was an fstab (see practice.py).
                ["update-initramfs", "-u", "-k", "all"],
                ["update-grub"],
            ):
                run_in_chroot(session, argv)
            root_by_uuid(session, built.part("/").uuid)
            core.write_bytes((session.root / GRUB_DIR.lstrip("/") / "core.efi").read_bytes())
        write_esp_loaders(built.image, core)


def write_esp_loaders(image: Path, loader: Path) -> None:
    """Copy `loader` to \\EFI\\debian\\grubx64.efi and the fallback \\EFI\\BOOT\\BOOTX64.EFI on
    the image's ESP, with mtools on the image file (nothing mounted, nothing attached)."""
    offset, _ = partition_span(image, ESP_NUMBER)
    drive = f"{image}@@{offset}"
    # mmd fails on a directory that exists: make only the missing ones (FAT ignores case).
    wanted = ["::/EFI", "::/EFI/debian", "::/EFI/BOOT"]
    missing = [d for d in wanted if d.lower() not in esp_paths(drive)]
    if missing:
        _host(["mmd", "-i", drive, *missing])
    for dest in ESP_LOADERS:
        _host(["mcopy", "-o", "-i", drive, str(loader), dest])
    found = esp_paths(drive)
    for dest in ESP_LOADERS:
        if dest.lower() not in found:
            raise RescueError(f"{dest} is missing on the ESP of {image} after mcopy.")


def esp_paths(drive: str) -> set[str]:
    """Every path on a FAT filesystem (mtools drive `image@@offset`), lower case, no trailing
    slash. An empty filesystem lists nothing (mdir then exits 1)."""
    listing = _host(["mdir", "-i", drive, "-/", "-b", "::/"], check=False)
    return {line.strip().rstrip("/").lower() for line in listing.splitlines() if line.strip()}


def partition_span(image: Path, number: int) -> tuple[int, int]:
    """(offset, size) in bytes of partition `number` of a disk image, from its table."""
    table = json.loads(_host(["sfdisk", "--json", str(image)]))["partitiontable"]
    sector = int(table.get("sectorsize", 512))
    for part in table["partitions"]:
        if re.search(rf"\D{number}$", part["node"]):
            return int(part["start"]) * sector, int(part["size"]) * sector
    raise RescueError(f"{image} has no partition {number}.")




def _host(argv: list[str], *, check: bool = True) -> str:
    """A host tool on our own freshly built image. mtools prints "Could not get geometry" on
    stderr for image files, harmlessly; MTOOLS_SKIP_CHECK keeps it from refusing the FAT."""
    env = os.environ | {"MTOOLS_SKIP_CHECK": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if check and done.returncode:
        raise RescueError(f"Building the UEFI practice base: {' '.join(argv)} failed "
                          f"(exit {done.returncode}): {done.stderr.strip()[:300]}")
    return done.stdout
