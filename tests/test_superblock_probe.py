"""The backup superblock probe on image files (no root needed): a copy counts only where its
own geometry puts it, and no bytes from a disk make the probe fail."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rescuetui.core.superblock import find_backup_superblock, primary_superblock_intact

MIB = 1 << 20


def _ext4(tmp_path: Path, size_mb: int, block_size: int) -> Path:
    image = tmp_path / "fs.img"
    with open(image, "wb") as f:
        f.truncate(size_mb * MIB)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", str(block_size), str(image)], check=True)
    return image


def _patch(image: Path, offset: int, data: bytes) -> None:
    with open(image, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.mark.parametrize(("block_size", "backup"), [(1024, 8193), (2048, 16384), (4096, 32768)])
def test_the_first_backup_of_each_block_size(tmp_path: Path, block_size: int,
                                             backup: int) -> None:
    image = _ext4(tmp_path, 300, block_size)
    _patch(image, 1024, bytes(1024))
    found = find_backup_superblock(str(image))
    assert found is not None and (found.block, found.block_size) == (backup, block_size)
    assert found.fstype == "ext4" and found.size == 300 * MIB
    assert not primary_superblock_intact(str(image), found)


def test_a_backup_that_is_gone_too_leads_to_the_next_one(tmp_path: Path) -> None:
    image = _ext4(tmp_path, 300, 1024)
    _patch(image, 1024, bytes(1024))
    _patch(image, 8193 * 1024, bytes(1024))
    found = find_backup_superblock(str(image))
    assert found is not None and found.block == 3 * 8192 + 1  # group 3: 24577


def test_a_copy_that_names_another_group_is_not_taken(tmp_path: Path) -> None:
    """Group 1's copy with its group number changed to 5: a superblock, but not the one that
    belongs at block 8193 (a stale copy of another geometry looks like this)."""
    image = _ext4(tmp_path, 300, 1024)
    _patch(image, 1024, bytes(1024))
    for group in (1, 3, 5, 7, 9, 25, 27):
        _patch(image, (1 + group * 8192) * 1024 + 90, struct.pack("<H", group + 1))
    assert find_backup_superblock(str(image)) is None


def test_a_file_of_zeros_or_too_small_has_none(tmp_path: Path) -> None:
    for size in (0, 512, 3 * MIB):
        image = tmp_path / f"z{size}.img"
        image.write_bytes(bytes(size))
        assert find_backup_superblock(str(image)) is None


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=0, max_size=4096), st.integers(min_value=0, max_value=64))
def test_any_bytes_at_a_backup_location_never_break_the_probe(tmp_path_factory: pytest.TempPathFactory,
                                                              blob: bytes, at: int) -> None:
    image = tmp_path_factory.mktemp("blob") / "blob.img"
    with open(image, "wb") as f:
        f.truncate(40 * MIB)
        f.seek(8193 * 1024 - at)
        f.write(b"\x53\xef" * 8 + blob)  # magic-like bytes, then anything
        f.seek(8193 * 1024 + 56)
        f.write(b"\x53\xef")
    found = find_backup_superblock(str(image))
    assert found is None or found.size <= 40 * MIB


def test_a_backup_whose_checksum_fails_gives_way_to_the_next(tmp_path: Path) -> None:
    """Group 1's copy with a byte of its label changed: the probe's own checks pass, but its
    checksum (metadata_csum) does not, so e2fsck -b 8193 would fail; 24577 is taken instead."""
    image = _ext4(tmp_path, 300, 1024)
    _patch(image, 1024, bytes(1024))
    _patch(image, 8193 * 1024 + 120, b"X")
    assert find_backup_superblock(str(image)).block == 8193  # type: ignore[union-attr]
    confirmed = find_backup_superblock(str(image), confirm=True)
    assert confirmed is not None and confirmed.block == 24577
