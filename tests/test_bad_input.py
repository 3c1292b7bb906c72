"""Bad input on real parts: read-only disks, fixed VHD images, the rescue system's own disk,
volumes this kernel cannot open."""

from __future__ import annotations

import contextlib
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import rescuetui

from rescuetui.core.errors import RescueError
from rescuetui.core.inventory import BlockDevice, scan_inventory
from rescuetui.core.journal import Journal
from rescuetui.core.probe import Identity
from rescuetui.core.runner import CommandRunner
from rescuetui.core.session import RescueSession
from rescuetui.core.state import SessionState
from rescuetui.core.volumes import assemble_array, md_available
from rescuetui.lab.disk import BuiltDisk, Part

pytestmark = pytest.mark.root

OS_RELEASE = b'PRETTY_NAME="Test Linux 1"\nID=debian\nVERSION_ID="12"\n'
DIRS = ("/proc", "/sys", "/dev", "/run", "/boot")


def _small_system(make_disk: Callable[..., BuiltDisk]) -> BuiltDisk:
    return make_disk([Part(60, "ext4", "/boot"), Part(None, "ext4", "/")],
                     files={"/etc/os-release": OS_RELEASE}, dirs=DIRS, table="msdos")


def test_read_only_disk_refuses_rw_with_a_clear_message(
    make_disk: Callable[..., BuiltDisk], journal_dir: Path
) -> None:
    disk = _small_system(make_disk)
    loop = subprocess.run(["losetup", "--find", "--show", "--partscan", "--read-only",
                           str(disk.image)], capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run(["partx", "-u", loop], check=False, capture_output=True)
        with RescueSession(journal_base=journal_dir) as session:
            session.open_target(loop)
            assert b"Test Linux 1" in (session.root / "etc/os-release").read_bytes()
        out = rescuetui("run", "--disk", loop, "--rw", "--journal", str(journal_dir), "--", "true")
        assert out.returncode == 1
        assert b"cannot be made writable" in out.stderr and b"read-only" in out.stderr
        assert b"Traceback" not in out.stderr
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)


def test_fixed_vhd_image_is_a_raw_image_with_a_footer(
    make_disk: Callable[..., BuiltDisk], journal_dir: Path
) -> None:
    disk = _small_system(make_disk)
    size = disk.image.stat().st_size
    footer = b"conectix" + struct.pack(">IIQ", 2, 0x10000, 0xFFFFFFFFFFFFFFFF)
    footer += bytes(512 - len(footer))
    with open(disk.image, "ab") as f:
        f.write(footer)
    with RescueSession(journal_base=journal_dir) as session:
        session.open_target(str(disk.image))
        assert b"Test Linux 1" in (session.root / "etc/os-release").read_bytes()
        loop = session.state.loops[0]
        assert int(Path(f"/sys/class/block/{Path(loop).name}/size").read_text()) * 512 == size
    assert disk.image.stat().st_size == size + 512
    with open(disk.image, "rb") as f:
        f.seek(size)
        assert f.read(512) == footer  # the footer is out of the loop device's reach


def test_missing_image_and_own_disk(journal_dir: Path) -> None:
    out = rescuetui("run", "--disk", "/nonexistent.img", "--journal", str(journal_dir), "--", "true")
    assert out.returncode == 1 and b"no such block device or disk image" in out.stderr
    own = next((d for d in scan_inventory().devices if d.rescue_own and d.devtype == "disk"), None)
    if own is None:
        pytest.skip("the rescue system's root is not on a block device the kernel lists")
    with RescueSession(journal_base=journal_dir) as session:
        with pytest.raises(RescueError, match="rescue system's own disk"):
            session.open_target(own.path)


def test_md_member_without_md_driver_says_what_to_do() -> None:
    """No md driver in this kernel, so no array can be built to probe: the member is a
    BlockDevice carrying the identity libblkid gives a linux_raid_member."""
    if md_available():
        pytest.skip("this kernel has md; assembling is exercised on the live image")
    member = BlockDevice("/dev/loop9p1", "loop9p1", "partition", "loop", 1 << 20, "7:9",
                         known_identity=Identity(fstype="linux_raid_member", uuid="abc"))
    state = SessionState.create()
    try:
        with pytest.raises(RescueError, match="no md RAID driver"):
            assemble_array(state, scan_inventory(), member)
    finally:
        (state.directory / "state.json").unlink()
        state.directory.rmdir()


def test_an_unwritable_journal_place_leaves_no_session_state(tmp_path: Path) -> None:
    """--journal somewhere nothing can be written: a clear message, and the session's state
    directory made just before is not left behind."""
    base = tmp_path / "state"
    base.mkdir()
    with pytest.raises(RescueError, match="--journal DIR"):
        RescueSession(journal_base=Path("/proc/no-such-place"), state_base=base)
    assert list(base.iterdir()) == []


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real filesystem (tmpfs) of 16 KiB: the journal's place, to be filled."""
    where = tmp_path / "full"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def _fill(where: Path, leave_kib: int = 0) -> None:
    with open(where / "filler", "wb") as f:
        with contextlib.suppress(OSError):
            f.write(b"\0" * ((16 - leave_kib) << 10))


def test_a_full_journal_disk_stops_before_anything_is_done(full_disk: Path,
                                                           debian_image: BuiltDisk) -> None:
    """Was a traceback. Now: a message that says what to do, exit 1, the disk not touched,
    and no journal directory, session state, mount or loop device left."""
    _fill(full_disk)
    before = debian_image.image.read_bytes()[:1 << 20]
    out = rescuetui("repair", "--yes", "--disk", str(debian_image.image), "--journal",
                    str(full_disk / "j"))
    assert out.returncode == 1
    err = out.stderr.decode()
    assert "Traceback" not in err
    assert f"A journal cannot be written under {full_disk / 'j'}: No space left on device" in err
    assert "--journal DIR" in err
    assert list((full_disk / "j").iterdir()) == []
    assert debian_image.image.read_bytes()[:1 << 20] == before


def test_a_journal_disk_that_fills_during_a_command_lets_it_finish_and_says_so(
        full_disk: Path, tmp_path: Path) -> None:
    """The command's output file fills the journal's disk: the command is not cut short (a
    half-built initramfs is worse than a short log), and its output says where the file
    stops. (The record of the command still fits here, in the journal file's last page; a
    record that does not is the previous test's message.)"""
    journal = Journal.create(full_disk / "j")
    marker = tmp_path / "finished"
    lines: list[str] = []
    result = CommandRunner(journal).run_plain(
        ["sh", "-c", f"yes output | head -n 20000; touch {marker}"], on_line=lines.append)
    assert result.ok and marker.exists()
    assert ("[rescuetui: this output's file in the journal stops here: No space left on device]"
            in lines)
