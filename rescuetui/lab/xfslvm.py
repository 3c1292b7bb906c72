"""The XFS-on-LVM practice base, shaped like the cloud's RHEL images: /boot on its own ext4
partition 1, partition 2 an LVM physical volume of the volume group `rootvg` whose volume
`rootlv` holds / on XFS, the initramfs built by dracut with root= naming the volume and
rd.lvm.lv= telling dracut which volume to activate (as RHEL's kernel command line does).

Built from the dracut base without device-mapper (this lab's build host may have none, so no
volume can be activated here): the volume group is written into LVM's metadata with
vgcfgrestore (rescuetui.lab.lvmdisk), XFS is made and filled through a loop device at the
volume's offset on the disk, and the packages and the initramfs are installed in a plain chroot
of that tree. rescuetui's own session is not used for this build: it would need the volume
active to mount it. Partition 1 and the gap before it (GRUB's core, which finds /boot by its
UUID) are the dracut base's, byte for byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rescuetui.core.lvm import only_devices
from rescuetui.core.tools import tool
from rescuetui.lab.debian import CACHE
from rescuetui.lab.dracut import dracut_base, dracut_base_path
from rescuetui.lab.lvmdisk import EXTENT, Volume, pe_start, write_volume_group
from rescuetui.lab.practice import cached_base, copy_image

# Bump when the recipe below changes, so cached bases are rebuilt.
RECIPE = "1"
VG, LV = "rootvg", "rootlv"
ROOT_UUID = "7d0c5e2a-4b8f-4e61-9a3d-2f6b1c8e9a01"
ROOT_DEVICE = f"/dev/mapper/{VG}-{LV}"
# RHEL's command line names the root volume for dracut to activate (and only that one).
CMDLINE_LVM = f"rd.lvm.lv={VG}/{LV}"
PACKAGES = ("lvm2", "xfsprogs")
ROOT_PART = 2
SECTOR = 512


def xfslvm_base_path(cache: Path = CACHE) -> Path:
    recipe = f"{RECIPE} {PACKAGES} {VG} {LV} {ROOT_UUID} {dracut_base_path(cache).name}"
    return cache / f"xfslvm-base-{hashlib.sha256(recipe.encode()).hexdigest()[:8]}.img"


def xfslvm_base(cache: Path = CACHE) -> Path:
    """The cached XFS-on-LVM base, built from the dracut base when missing (apt fetches lvm2
    from the Debian mirror; a few minutes)."""
    return cached_base(xfslvm_base_path(cache),
                       lambda partial: build_xfslvm(dracut_base(cache), partial))


def partition(image: Path, number: int) -> tuple[int, int]:
    """(start, size) in bytes of partition `number` of `image`, read from its table."""
    for line in tool("sfdisk", "-d", str(image)).splitlines():
        if re.match(rf"\S+?{number} :", line):
            start = int(re.search(r"start=\s*(\d+)", line).group(1))  # type: ignore[union-attr]
            size = int(re.search(r"size=\s*(\d+)", line).group(1))  # type: ignore[union-attr]
            return start * SECTOR, size * SECTOR
    raise RuntimeError(f"{image} has no partition {number}")


@contextlib.contextmanager
def loop(image: Path, *, offset: int = 0, size: int | None = None, partscan: bool = False,
         read_only: bool = False) -> Iterator[str]:
    """A loop device on `image` (or on the byte range offset..offset+size), detached after."""
    args = ["--find", "--show", "--offset", str(offset)]
    args += ["--sizelimit", str(size)] if size else []
    args += ["--partscan"] if partscan else []
    args += ["--read-only"] if read_only else []
    device = tool("losetup", *args, str(image)).strip()
    try:
        if partscan:
            tool("partx", "-u", device)
        yield device
    finally:
        tool("losetup", "--detach", device)


@contextlib.contextmanager
def mounted(device: str, where: Path, *options: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    tool("mount", *options, device, str(where))
    try:
        yield where
    finally:
        tool("umount", str(where))


def root_volume(image: Path) -> tuple[int, int]:
    """(offset, size) in bytes of the root volume's data on `image`: the volume is linear from
    the first extent of partition 2, so a loop device over that range is the volume."""
    start, _ = partition(image, ROOT_PART)
    with loop(image, partscan=True, read_only=True) as disk:
        pv = f"{disk}p{ROOT_PART}"
        first = pe_start(pv)
        extents = int(tool("lvs", "--config", only_devices([pv]), "--noheadings", "-o",
                           "seg_size_pe", f"{VG}/{LV}").strip())
    return start + first, extents * EXTENT


@contextlib.contextmanager
def mounted_root(image: Path, where: Path, *options: str) -> Iterator[Path]:
    """The root volume's XFS of `image` mounted at `where`, through a loop device."""
    offset, size = root_volume(image)
    with loop(image, offset=offset, size=size) as device, mounted(device, where, *options):
        yield where


def build_xfslvm(source: Path, image: Path) -> None:
    copy_image(source, image)
    start, size = partition(image, ROOT_PART)
    tool("sfdisk", "-q", "--part-type", str(image), str(ROOT_PART), "8e")
    with loop(image, partscan=True) as disk:
        pv = f"{disk}p{ROOT_PART}"
        # Wipe the old ext4 signature so nothing later takes the PV for a filesystem.
        tool("wipefs", "-q", "-a", pv)
        # One extent is kept free: LVM needs none, but a full VG reads oddly to a trainee.
        extents = (size - 1024 * 1024) // EXTENT - 1
        write_volume_group(pv, VG, (Volume(LV, extents, "/", ROOT_UUID),))
        first = pe_start(pv)
    with tempfile.TemporaryDirectory(dir="/run", prefix="rescuetui-xfslvm-") as tmp:
        old, new = Path(tmp) / "old", Path(tmp) / "new"
        with loop(source, offset=start, size=size, read_only=True) as old_root, \
                loop(image, offset=start + first, size=extents * EXTENT) as root:
            tool("mkfs.xfs", "-q", "-f", "-m", f"uuid={ROOT_UUID}", "-L", "root", root)
            with mounted(old_root, old, "-o", "ro"), mounted(root, new):
                subprocess.run(["cp", "-a", f"{old}/.", str(new)], check=True)
            with mounted(root, new), loop(image, partscan=True) as disk, \
                    mounted(f"{disk}p1", new / "boot"):
                _configure(new)
            tool("xfs_repair", "-n", root)  # the built filesystem is clean


@contextlib.contextmanager
def system_mounts(tree: Path) -> Iterator[None]:
    """/dev, /proc and /sys in the mounted tree, for a plain chroot (the lab's own build)."""
    with contextlib.ExitStack() as stack:
        for name, options in (("dev", ["--bind"]), ("proc", ["-t", "proc"]),
                              ("sys", ["-t", "sysfs"])):
            source = f"/{name}" if name == "dev" else name
            stack.enter_context(mounted(source, tree / name, *options))
        yield


@contextlib.contextmanager
def chroot_tree(image: Path, where: Path) -> Iterator[Path]:
    """The system on `image` mounted read-write at `where` (root volume, /boot below it, /dev,
    /proc, /sys) for a plain chroot, through loop devices: nothing is activated."""
    with mounted_root(image, where), mounted_boot(image, where / "boot"), system_mounts(where):
        yield where


def _configure(tree: Path) -> None:
    """fstab, GRUB's command line, lvm2 and xfsprogs, and a dracut initramfs that activates
    the root volume, in a plain chroot of the mounted tree (its /boot mounted below it)."""
    fstab = (tree / "etc/fstab").read_text()
    boot = next(line for line in fstab.splitlines() if " /boot " in f" {line} ")
    (tree / "etc/fstab").write_text(
        "# /etc/fstab: XFS root on LVM (rescuetui.lab.xfslvm)\n"
        f"{ROOT_DEVICE} / xfs defaults 0 0\n{boot}\n")
    default = (tree / "etc/default/grub").read_text()
    default = re.sub(r'^GRUB_CMDLINE_LINUX="', f'GRUB_CMDLINE_LINUX="{CMDLINE_LVM} ', default,
                     flags=re.M)
    (tree / "etc/default/grub").write_text(default)
    cfg = tree / "boot/grub/grub.cfg"
    text, count = re.subn(r"root=UUID=[0-9a-f-]+", f"root={ROOT_DEVICE} {CMDLINE_LVM}",
                          cfg.read_text())
    if not count:
        raise RuntimeError("grub.cfg of the dracut base has no root=UUID= to change")
    cfg.write_text(text)
    kernels = sorted(p.name.removeprefix("vmlinuz-") for p in (tree / "boot").glob("vmlinuz-*"))
    resolv = tree / "etc/resolv.conf"
    saved = resolv.read_bytes() if resolv.is_file() and not resolv.is_symlink() else None
    with system_mounts(tree):
        resolv.unlink(missing_ok=True)
        shutil.copyfile("/etc/resolv.conf", resolv)  # the chroot's apt reaches the mirror
        try:
            for argv in (
                ["apt-get", "update", "-q"],
                ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
                 "--no-install-recommends", *PACKAGES],
                *(["dracut", "--force", "--no-hostonly", f"/boot/initrd.img-{k}", k]
                  for k in kernels),
                ["apt-get", "clean"],
            ):
                subprocess.run(["chroot", str(tree), *argv], check=True,
                               stdout=subprocess.DEVNULL)
            for kernel in kernels:
                listing = subprocess.run(
                    ["chroot", str(tree), "lsinitrd", f"/boot/initrd.img-{kernel}"],
                    check=True, capture_output=True, text=True).stdout
                for needed in ("sbin/lvm", "xfs.ko"):
                    if needed not in listing:
                        raise RuntimeError(f"the initramfs of {kernel} has no {needed}")
        finally:
            resolv.unlink(missing_ok=True)
            if saved is not None:
                resolv.write_bytes(saved)


@contextlib.contextmanager
def mounted_boot(image: Path, where: Path, *, read_only: bool = False) -> Iterator[Path]:
    """Partition 1 of `image` (/boot, plain ext4: no LVM needed) mounted at `where`."""
    start, size = partition(image, 1)
    options = ["-o", "ro"] if read_only else []
    with loop(image, offset=start, size=size, read_only=read_only) as device, \
            mounted(device, where, *options):
        yield where


def default_kernel(boot: Path) -> str:
    """The newest kernel in the mounted /boot `boot` (the one GRUB boots by default)."""
    kernels = sorted(p.name.removeprefix("vmlinuz-") for p in boot.glob("vmlinuz-*"))
    if not kernels:
        raise RuntimeError("the XFS-on-LVM base has no kernel in /boot")
    return kernels[-1]
