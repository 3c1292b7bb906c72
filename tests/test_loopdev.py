"""Loop devices through the kernel's interface (core/loopdev.py), read back from sysfs."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rescuetui.core import loopdev
from rescuetui.core.errors import RescueError
from rescuetui.core.mountstack import MountStack
from rescuetui.core.state import SessionState


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """A 64 MiB sparse image with a GPT and two partitions."""
    path = tmp_path / "disk.img"
    with open(path, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(["sfdisk", "-q", str(path)], input=b"label: gpt\n,16M\n,\n", check=True)
    return path


@pytest.fixture
def attached() -> Iterator[list[str]]:
    devices: list[str] = []
    yield devices
    for device in devices:
        loopdev.detach(device)


def _sys(device: str, name: str) -> str:
    return Path(f"/sys/block/{Path(device).name}/{name}").read_text().strip()


def test_attach_binds_the_image_and_detach_lets_it_go(image: Path, attached: list[str]) -> None:
    device, read_only = loopdev.attach(str(image))
    attached.append(device)
    assert not read_only and _sys(device, "ro") == "0"
    assert _sys(device, "loop/backing_file") == str(image)
    assert int(_sys(device, "size")) * 512 == 64 << 20
    assert loopdev.detach(device) is True
    assert not Path(f"/sys/block/{Path(device).name}/loop/backing_file").exists()
    assert loopdev.detach(device) is False  # already detached: said, not an error


def test_a_device_still_in_use_is_waited_for_and_said(image: Path, attached: list[str]) -> None:
    """The kernel only marks a device in use to be detached when its last user closes it (a
    sandbox that is still dying holds the filesystem on it): detach waits for that and says
    when it does not come, and the next detach (cleanup) finds it gone."""
    device, _ = loopdev.attach(str(image))
    attached.append(device)
    user = os.open(device, os.O_RDONLY)
    try:
        with pytest.raises(RescueError, match="still in use"):
            loopdev.detach(device, wait=0.2)
        assert loopdev.is_bound(device)
    finally:
        os.close(user)
    deadline = time.monotonic() + 5
    while loopdev.is_bound(device) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not loopdev.is_bound(device)  # the kernel let it go when its user closed it
    assert loopdev.detach(device) is False


def test_detach_waits_for_a_user_that_lets_go(image: Path, attached: list[str]) -> None:
    device, _ = loopdev.attach(str(image))
    attached.append(device)
    user = os.open(device, os.O_RDONLY)
    closer = threading.Timer(0.3, os.close, (user,))
    closer.start()
    try:
        assert loopdev.detach(device) is True
    finally:
        closer.join()
    assert not loopdev.is_bound(device)


def test_read_only_and_size_limit_are_the_kernels(image: Path, attached: list[str]) -> None:
    device, read_only = loopdev.attach(str(image), read_only=True, sizelimit=32 << 20)
    attached.append(device)
    assert read_only and _sys(device, "ro") == "1"
    assert int(_sys(device, "size")) * 512 == 32 << 20


def test_an_image_that_cannot_be_written_is_attached_read_only(
        image: Path, tmp_path: Path, attached: list[str]) -> None:
    """As losetup does: an image on a read-only filesystem is attached read-only, said so."""
    view = tmp_path / "ro-view"
    view.mkdir()
    subprocess.run(["mount", "--bind", str(image.parent), str(view)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        device, read_only = loopdev.attach(str(view / image.name))
        attached.append(device)
        assert read_only and _sys(device, "ro") == "1"
        loopdev.detach(device)
        attached.remove(device)
    finally:
        subprocess.run(["umount", str(view)], check=True)


def test_the_session_attaches_with_partitions_and_detaches(image: Path, tmp_path: Path) -> None:
    state = SessionState.create(tmp_path / "state")
    stack = MountStack(state)
    device = stack.attach_image(image)
    try:
        name = Path(device).name
        assert sorted(p.name for p in Path(f"/sys/block/{name}").glob(f"{name}p*")) == \
            [f"{name}p1", f"{name}p2"]
        assert Path(f"/dev/{name}p2").exists()
    finally:
        assert stack.teardown() == []
    assert state.loops == []
    assert not Path(f"/sys/block/{Path(device).name}/loop/backing_file").exists()
