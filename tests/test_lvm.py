"""A repair VM made from the same image as the broken VM: the attached OS disk carries a copy of
the repair VM's own volume group (same name, same VG and PV UUIDs). Real LVM metadata on real
loop devices: the copy is imported under a temporary name without touching the original, and at
teardown (or `rescuetui cleanup` after a kill) gets its name and UUIDs back, data untouched.

This kernel has no device-mapper, so the activation step (vgchange -ay) cannot run here (the
live image's end-to-end run, iso/lvm_copy_e2e.py, does it under qemu); the lab's LVM disk writes
its volumes into the metadata with vgcfgrestore. Everything else is LVM's own tools on real
labels.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rescuetui.core.cleanup import cleanup_sessions
from rescuetui.core.errors import RescueError
from rescuetui.core.lvm import (
    LabelUnreadable,
    PhysicalVolume,
    clashes,
    import_copy,
    only_devices,
    open_volume_group,
    physical_volume,
    volume_groups,
)
from rescuetui.core.mountstack import MountStack
from rescuetui.core.session import remove_session_dirs
from rescuetui.core.state import SessionState
from rescuetui.core.volumes import device_mapper_available
from rescuetui.lab.lvmdisk import build_lvm_disk, data_digest, identity

pytestmark = [pytest.mark.root]

@pytest.fixture
def twins(tmp_path: Path) -> Iterator[Callable[[], tuple[Path, str, Path, str, str]]]:
    """The repair VM's own disk and the attached copy of it, both with the same volume group
    (the lab's LVM practice disk: rootvg with root and var volumes, ext4 on each)."""
    stack = MountStack(SessionState.create())
    vg = f"rootvg{uuid.uuid4().hex[:6]}"

    def build() -> tuple[Path, str, Path, str, str]:
        own_image, copy_image = tmp_path / "own.img", tmp_path / "copy.img"
        build_lvm_disk(own_image, vg=vg)
        shutil.copyfile(own_image, copy_image)
        own, copy = stack.attach_image(own_image), stack.attach_image(copy_image)
        return own_image, f"{own}p1", copy_image, f"{copy}p1", vg

    yield build
    assert stack.teardown() == []
    remove_session_dirs(stack.state.directory)


def test_a_copy_clashes_and_an_unrelated_group_does_not(
    twins: Callable[[], tuple[Path, str, Path, str, str]],
) -> None:
    _, own_loop, _, copy_loop, vg = twins()
    own, copy = physical_volume(own_loop), physical_volume(copy_loop)
    assert own is not None and copy is not None
    # Read one device at a time, each copy is seen, not hidden as LVM's duplicate.
    assert copy.vg_name == own.vg_name == vg and copy.pv_uuid == own.pv_uuid
    assert clashes(copy, [own])
    unrelated = PhysicalVolume("/dev/sdz1", "pv-other", "datavg", "vg-other")
    assert not clashes(copy, [unrelated])
    assert volume_groups([own, copy]) == [[own, copy]]
    state = SessionState.create()
    try:
        with pytest.raises(RescueError, match="Two copies of the volume group"):
            open_volume_group(state, [own, copy], [], Path("/nonexistent"))
    finally:
        remove_session_dirs(state.directory)


def test_the_copy_is_imported_then_put_back_exactly(
    twins: Callable[[], tuple[Path, str, Path, str, str]],
) -> None:
    own_image, own_loop, copy_image, copy_loop, vg = twins()
    own_before, copy_before = identity(own_loop), identity(copy_loop)
    data_before = data_digest(copy_image, copy_loop)
    copy = physical_volume(copy_loop)
    assert copy is not None
    state = SessionState.create()
    keep = copy_image.parent / "journal" / "lvm"

    temporary = import_copy(state, [copy], keep)

    imported = identity(copy_loop)
    assert imported["vg_name"] == temporary == f"rescuetui_{vg}"
    assert imported["pv_uuid"] != copy_before["pv_uuid"]
    assert imported["vg_uuid"] != copy_before["vg_uuid"]
    assert imported["lvs"] == copy_before["lvs"]  # the same volumes on the same extents
    assert identity(own_loop) == own_before, "the repair VM's own group was touched"
    backup = keep / f"lvm-{state.directory.name}-{temporary}.vg"
    assert backup.is_file() and not list(state.directory.glob("*.vg"))  # not on /run

    assert MountStack(state).teardown() == []
    remove_session_dirs(state.directory)

    assert identity(copy_loop) == copy_before
    assert backup.is_file()  # the journal keeps the identity it put back
    assert identity(own_loop) == own_before
    assert data_digest(copy_image, copy_loop) == data_before


def _state_of_a_killed_run() -> tuple[Path, SessionState]:
    """A session state on /run whose run is gone (as after kill -9), in a base of its own."""
    base = Path(tempfile.mkdtemp(prefix="rescuetui-test-", dir="/run"))
    state = SessionState.create(base)
    state.pid, state.pid_start = 0, ""
    state.save()
    return base, state


def test_cleanup_after_a_killed_run_puts_the_copy_back(
    twins: Callable[[], tuple[Path, str, Path, str, str]],
) -> None:
    """A run killed with the copy imported: its state on /run says how to put it back, and
    `rescuetui cleanup` (the same code) does."""
    _, _, _, copy_loop, _ = twins()
    before = identity(copy_loop)
    copy = physical_volume(copy_loop)
    assert copy is not None
    base, state = _state_of_a_killed_run()
    keep = Path(tempfile.mkdtemp(prefix="rescuetui-test-journal-", dir="/var/tmp"))
    import_copy(state, [copy], keep)
    assert identity(copy_loop) != before

    (report,) = cleanup_sessions(base)
    assert report.session == state.directory.name and report.problems == []
    assert identity(copy_loop) == before
    base.rmdir()
    shutil.rmtree(keep)


def test_a_failed_restore_step_is_kept_and_cleanup_tries_again(
    twins: Callable[[], tuple[Path, str, Path, str, str]],
) -> None:
    """A step that puts the identity back fails (here its backup file is out of reach for a
    while): it stays in the state with every step after it, nothing is deleted, and the next
    `rescuetui cleanup` puts the identity back."""
    _, _, copy_image, copy_loop, _ = twins()
    before = identity(copy_loop)
    copy = physical_volume(copy_loop)
    assert copy is not None
    base, state = _state_of_a_killed_run()
    keep = copy_image.parent / "journal" / "lvm"
    temporary = import_copy(state, [copy], keep)
    backup = keep / f"lvm-{state.directory.name}-{temporary}.vg"
    steps = list(state.opened)
    away = backup.with_suffix(".away")
    backup.rename(away)

    (report,) = cleanup_sessions(base)
    assert report.problems and "tries again" in report.problems[0]
    assert SessionState.load(state.directory).opened == steps  # nothing dropped
    assert identity(copy_loop) != before

    away.rename(backup)
    (report,) = cleanup_sessions(base)
    assert report.problems == [] and identity(copy_loop) == before
    assert backup.is_file()
    base.rmdir()


def test_without_device_mapper_nothing_is_renamed(
    twins: Callable[[], tuple[Path, str, Path, str, str]],
) -> None:
    if device_mapper_available():
        pytest.skip("this kernel has device-mapper; the refusal path is not reached")
    _, own_loop, _, copy_loop, vg = twins()
    own, copy = physical_volume(own_loop), physical_volume(copy_loop)
    assert own is not None and copy is not None
    before = identity(copy_loop)
    state = SessionState.create()
    with pytest.raises(RescueError, match="device-mapper"):
        open_volume_group(state, [copy], [own], state.directory / "lvm")
    assert identity(copy_loop) == before and state.opened == []
    remove_session_dirs(state.directory)


def test_only_devices_refuses_odd_paths() -> None:
    assert only_devices(["/dev/sdb2"]) == (
        'devices { filter = [ "a|^/dev/sdb2$|", "r|.*|" ] '
        'global_filter = [ "a|^/dev/sdb2$|", "r|.*|" ] use_devicesfile = 0 }')
    for hostile in ['/dev/sd"b', "/dev/sdb|x", "sdb", "/dev/sdb\n"]:
        with pytest.raises(RescueError, match="unusual device path"):
            only_devices([hostile])


def test_an_lvm_failure_is_not_read_as_no_label(
        twins: Callable[[], tuple[Path, str, Path, str, str]]) -> None:
    """pvs failing (here: the device is gone) says so; it is never "no physical volume here",
    which once let a clash with the rescue system's own group go unseen."""
    _, own, _, _, vg = twins()
    found = physical_volume(own)
    assert found is not None and found.vg_name == vg
    for n in range(200, 256):
        if not Path(f"/dev/loop{n}").exists():
            break
    with pytest.raises(LabelUnreadable, match="device not found"):
        physical_volume(f"/dev/loop{n}")
