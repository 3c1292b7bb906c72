"""Initramfs images listed on the host (core/initramfs_image.py): the real image
initramfs-tools built in the cached Debian 12 tree, and images made here with the real tools
(GNU cpio's newc archives, gzip, xz, lzma, bzip2, zstd, lz4 -l, lzop) the way the builders
make them: the uncompressed early archive first, the compressed main archive after it. Cut
short, they must read as truncated; garbage as corrupt; lzo as not readable here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rescuetui.core.confined import ConfinedRoot
from rescuetui.core.initramfs_image import (
    CORRUPT,
    OK,
    TOO_BIG,
    TRUNCATED,
    UNREADABLE,
    ImageListing,
    list_image_fd,
    list_initramfs,
)

COMPRESSORS = {
    "gzip": ["gzip", "-n", "-c"],
    "xz": ["xz", "--check=crc32", "-c"],
    "lzma": ["xz", "--format=lzma", "-c"],
    "bzip2": ["bzip2", "-c"],
    "zstd": ["zstd", "-q", "-c", "-19"],
    "lz4": ["lz4", "-l", "-q", "-c"],
}
MAIN = ["usr", "usr/lib", "usr/lib/modules", "usr/lib/modules/6.1.0-1-amd64",
        "usr/lib/modules/6.1.0-1-amd64/virtio_blk.ko", "init", "big"]


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed on this host (make setup)")


def _cpio(source: Path) -> bytes:
    """A newc archive of `source`, by GNU cpio (as initramfs-tools and dracut make them)."""
    names = subprocess.run(["find", "."], cwd=source, capture_output=True, check=True).stdout
    return subprocess.run(["cpio", "--quiet", "-o", "-H", "newc"], cwd=source, input=names,
                          capture_output=True, check=True).stdout


def _trees(tmp_path: Path) -> tuple[bytes, bytes]:
    early = tmp_path / "early"
    (early / "kernel/x86/microcode").mkdir(parents=True)
    (early / "kernel/x86/microcode/GenuineIntel.bin").write_bytes(os.urandom(5000))
    main = tmp_path / "main"
    (main / "usr/lib/modules/6.1.0-1-amd64").mkdir(parents=True)
    (main / "usr/lib/modules/6.1.0-1-amd64/virtio_blk.ko").write_bytes(os.urandom(20000))
    (main / "init").write_text("#!/bin/sh\n")
    (main / "big").write_bytes(b"".join(b"%d\n" % n for n in range(200000)))
    return _cpio(early), _cpio(main)


def _list(path: Path) -> ImageListing:
    fd = os.open(path, os.O_RDONLY)
    try:
        return list_image_fd(fd)
    finally:
        os.close(fd)


@pytest.mark.parametrize("name", list(COMPRESSORS))
def test_every_compression_with_the_early_archive_in_front(tmp_path: Path, name: str) -> None:
    argv = COMPRESSORS[name]
    _need("cpio", argv[0])
    early, main = _trees(tmp_path)
    packed = subprocess.run(argv, input=main, capture_output=True, check=True).stdout
    image = tmp_path / "initrd.img"
    image.write_bytes(early + packed)
    listing = _list(image)
    assert listing.status == OK, listing.problem
    assert listing.segments == ["cpio", name]
    assert sorted(listing.names) == sorted(
        ["kernel", "kernel/x86", "kernel/x86/microcode", "kernel/x86/microcode/GenuineIntel.bin",
         *MAIN])
    # Cut anywhere inside the compressed part: truncated, never a partial "ok".
    for keep in (len(early) + 10, len(early) + len(packed) // 2, len(early) + len(packed) - 3):
        image.write_bytes((early + packed)[:keep])
        cut = _list(image)
        assert cut.status == TRUNCATED, (keep, cut)
    # Garbage after the main archive: the kernel stops there ("invalid magic").
    image.write_bytes(early + packed + b"\x00" * 3 + b"garbage!")
    assert _list(image).status == CORRUPT


def test_garbage_empty_and_uncompressed_cut(tmp_path: Path) -> None:
    _need("cpio")
    early, main = _trees(tmp_path)
    image = tmp_path / "x.img"
    image.write_bytes(os.urandom(4096))
    assert _list(image).status in (CORRUPT, TRUNCATED)
    image.write_bytes(b"This is not an initramfs at all.\n" * 50)
    garbage = _list(image)
    assert garbage.status == CORRUPT and "byte 0" in garbage.problem
    image.write_bytes(b"")
    assert _list(image).status == TRUNCATED
    image.write_bytes(main[: len(main) - 200])  # the trailer is gone
    assert _list(image).status == TRUNCATED
    # A corrupt member inside an intact gzip stream: the cpio header is wrong.
    broken = bytearray(main)
    third = main.index(b"070701", main.index(b"070701", 1) + 1)
    broken[third:third + 6] = b"070707"  # the old portable format, which the kernel refuses
    image.write_bytes(early + subprocess.run(["gzip", "-c"], input=bytes(broken),
                                             capture_output=True, check=True).stdout)
    assert _list(image).status == CORRUPT


def test_lzo_is_not_readable_here_and_bounds_are_said(tmp_path: Path) -> None:
    _need("cpio", "lzop", "zstd")
    early, main = _trees(tmp_path)
    image = tmp_path / "x.img"
    image.write_bytes(early + subprocess.run(["lzop", "-c"], input=main, capture_output=True,
                                             check=True).stdout)
    lzo = _list(image)
    assert lzo.status == UNREADABLE and "lzo" in lzo.problem
    # A compression bomb: an archive with a 128 MiB file of zeros, in a few kilobytes of zstd;
    # the bound stops it.
    (tmp_path / "bomb").mkdir()
    with open(tmp_path / "bomb/zeros", "wb") as zeros:
        zeros.truncate(128 << 20)
    archive = _cpio(tmp_path / "bomb")
    for argv in (COMPRESSORS["zstd"], COMPRESSORS["bzip2"], COMPRESSORS["xz"]):
        bomb = subprocess.run(argv, input=archive, capture_output=True, check=True).stdout
        assert len(bomb) < 1 << 20
        image.write_bytes(early + bomb)
        fd = os.open(image, os.O_RDONLY)
        try:
            big = list_image_fd(fd, max_unpacked=64 << 20)
        finally:
            os.close(fd)
        assert big.status == TOO_BIG and "64 MiB" in big.problem, (argv, big)


def test_the_real_image_of_the_cached_debian_tree() -> None:
    found = sorted(Path("/var/cache/rescuetui").glob("debian12-*/boot/initrd.img-*"))
    if not found:
        pytest.skip("no cached Debian tree in /var/cache/rescuetui (make setup builds it)")
    image = found[0]
    root = image.parents[1]
    listing = list_initramfs(ConfinedRoot(root), f"/boot/{image.name}")
    assert listing.complete, listing.problem
    kernel = image.name.removeprefix("initrd.img-")
    assert f"usr/lib/modules/{kernel}/modules.dep" in listing.names
    assert any(n.endswith("/virtio_blk.ko") for n in listing.names)
    assert "init" in listing.names
    # The tree's own lister agrees (run by the test: rescuetui never runs it).
    if shutil.which("chroot") and os.geteuid() == 0:
        out = subprocess.run(["chroot", str(root), "lsinitramfs", f"/boot/{image.name}"],
                             capture_output=True, text=True, check=True).stdout
        assert set(out.splitlines()) - {"."} == set(listing.names)


def test_a_fifo_a_link_out_and_sparse_zeros_are_not_read(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "boot").mkdir(parents=True)
    with open(root / "boot/initrd.img-huge", "wb") as huge:
        huge.truncate(4 << 30)
    big = list_initramfs(ConfinedRoot(root), "/boot/initrd.img-huge")
    assert big.status == TOO_BIG and "4096 MiB" in big.problem
    with open(root / "boot/initrd.img-zeros", "wb") as zeros:
        zeros.truncate(256 << 20)  # zeros are padding to the kernel, and nothing else here
    assert list_initramfs(ConfinedRoot(root), "/boot/initrd.img-zeros").status == TRUNCATED
    os.mkfifo(root / "boot/initrd.img-fifo")
    assert list_initramfs(ConfinedRoot(root), "/boot/initrd.img-fifo").status == TRUNCATED
    (root / "boot/initrd.img-out").symlink_to("/etc/passwd")
    out = list_initramfs(ConfinedRoot(root), "/boot/initrd.img-out")
    assert out.status == TRUNCATED and not out.names
