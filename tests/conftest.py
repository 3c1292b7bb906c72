"""Shared fixtures: real loop-attached disk images, the cached Debian tree, and a leak check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rescuetui.core.mountinfo import current_mounts
from rescuetui.core.state import STATE_BASE
from rescuetui.lab.disk import BuiltDisk, Part, build_disk

if TYPE_CHECKING:
    from rescuetui.checks.base import TargetContext

REPO = Path(__file__).resolve().parent.parent
SERIAL_DIR = REPO / "tests" / "data" / "serial"  # serial consoles of the lab's real boots


def _real_parts_missing() -> str | None:
    """Why tests on real disks cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (loop devices, mount, chroot)"
    if not Path("/dev/loop-control").exists():
        return "no loop devices (/dev/loop-control missing)"
    for tool in ("losetup", "mount", "sfdisk", "mkfs.ext4", "mkfs.xfs", "partx"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (run `make setup`)"
    return None


REAL_PARTS_MISSING = _real_parts_missing()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if REAL_PARTS_MISSING is None:
        return
    skip = pytest.mark.skip(reason=REAL_PARTS_MISSING)
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


def _ours() -> tuple[set[str], set[str], set[str]]:
    mounts = {m.mountpoint for m in current_mounts() if "rescuetui" in m.mountpoint}
    out = subprocess.run(["losetup", "--noheadings", "--output", "NAME,BACK-FILE", "--list"],
                         capture_output=True, text=True, check=False).stdout
    loops = {line.split()[0] for line in out.splitlines() if "pytest" in line or "/tmp/" in line}
    sessions = {p.name for p in STATE_BASE.glob("*") if p.is_dir()} if STATE_BASE.is_dir() else set()
    return mounts, loops, sessions


@pytest.fixture(autouse=True)
def nothing_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test on real parts must leave no mount, no loop device and no session state
    directory behind."""
    if "root" not in request.keywords or REAL_PARTS_MISSING:
        yield
        return
    before = _ours()
    yield
    after = _ours()
    assert after[0] <= before[0], f"mounts left behind: {after[0] - before[0]}"
    assert after[1] <= before[1], f"loop devices left behind: {after[1] - before[1]}"
    assert after[2] <= before[2], f"session state directories left behind: {after[2] - before[2]}"


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    d = tmp_path / "journal"
    d.mkdir()
    return d


@pytest.fixture
def make_disk(tmp_path: Path) -> Callable[..., BuiltDisk]:
    """Build a real (sparse) disk image: `make_disk([Part(...), ...], table="gpt", files={...})`.

    XFS needs at least 300 MiB, hence the default size."""
    counter = iter(range(1000))

    def make(parts: list[Part], **kwargs: object) -> BuiltDisk:
        image = tmp_path / f"disk{next(counter)}.img"
        kwargs.setdefault("size_mb", 800)
        return build_disk(image, parts, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def debian_base_image(tmp_path_factory: pytest.TempPathFactory) -> BuiltDisk:
    """The two-partition Debian 12 image (debootstrap tree cached in /var/cache/rescuetui)."""
    if REAL_PARTS_MISSING:
        pytest.skip(REAL_PARTS_MISSING)
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is not installed (run `make setup`)")
    from rescuetui.lab.debian import two_partition_image

    return two_partition_image(tmp_path_factory.mktemp("debian") / "base.img")


@pytest.fixture
def debian_image(debian_base_image: BuiltDisk, tmp_path: Path) -> BuiltDisk:
    """A private copy of the Debian image that the test may change."""
    copy = tmp_path / "debian.img"
    subprocess.run(["cp", "--sparse=always", str(debian_base_image.image), str(copy)], check=True)
    return BuiltDisk(copy, debian_base_image.parts)


def fixture_context(root: Path, os_release: str, *, fstype: str = "xfs", uuid: str = "u",
                    kernel: str | None = None) -> TargetContext:
    """A TargetContext over a fixture tree at `root` (another family's layout, which cannot run
    here): root on a made-up /dev/sdz2, commands only planned (dry run). `kernel`: the one to
    work on, default the newest found in the tree."""
    from rescuetui.checks.base import TargetContext
    from rescuetui.core.inventory import BlockDevice, Inventory
    from rescuetui.core.osrelease import parse_os_release
    from rescuetui.core.probe import Identity
    from rescuetui.core.runner import CommandRunner
    from rescuetui.core.target import Candidate, describe_target

    device = BlockDevice("/dev/sdz2", "sdz2", "partition", "scsi", 1 << 30, "8:2",
                         parent="/dev/sdz", known_identity=Identity(fstype=fstype, uuid=uuid))
    target = describe_target(root, Candidate(device, "", parse_os_release(os_release)),
                             Inventory([device]))
    return TargetContext(root, target, CommandRunner(dry_run=True),
                         kernel or target.kernels[0].version)


def install_program(root: Path, path: str) -> None:
    """An executable file at `path` in a fixture tree: what tells rescuetui a tool is installed
    (the fixture's tools are planned, never run)."""
    program = root / path.lstrip("/")
    program.parent.mkdir(parents=True, exist_ok=True)
    program.write_text("#!/bin/sh\nexit 1\n")
    program.chmod(0o755)


def rescuetui_exe() -> str:
    """The installed `rescuetui` script of the environment running the tests."""
    beside = Path(sys.executable).parent / "rescuetui"
    return str(beside) if beside.exists() else shutil.which("rescuetui") or "rescuetui"


def rescuetui(*args: str, input: bytes | None = None, timeout: float = 300,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the installed command line as an operator would."""
    return subprocess.run([rescuetui_exe(), *args], input=input, capture_output=True, timeout=timeout,
                          env=env, check=False)


__all__ = ["REPO", "SERIAL_DIR", "STATE_BASE", "fixture_context", "rescuetui", "rescuetui_exe"]
