"""XFS repair on real filesystems: a log left dirty by a crash is replayed by mounting before
xfs_repair; a log that cannot be read needs `xfs_repair -L`, which only a person may accept.

The crash is real: `xfs_io -x -c 'shutdown -f'` stops the filesystem with changes in its log,
as a power cut does. The unreadable log is the same filesystem with its log blocks overwritten.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import time
from pathlib import Path

import pytest
from conftest import rescuetui, rescuetui_exe

from rescuetui.checks.filesystems import check_filesystem
from rescuetui.core.runner import CommandRunner
from rescuetui.fixes.fsck import plan_fsck, plan_xfs_zero_log
from rescuetui.lab.debian import debian_tree
from rescuetui.lab.disk import BuiltDisk, Part

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _loop(image: Path) -> str:
    loop = subprocess.run(["losetup", "--find", "--show", "--partscan", str(image)],
                          capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["partx", "-u", loop], check=False, capture_output=True)
    return loop


def _crash(device: str, mountpoint: Path, files: int = 40) -> None:
    """Write files, then stop the filesystem as a power cut would: the log stays dirty."""
    mountpoint.mkdir(exist_ok=True)
    subprocess.run(["mount", device, str(mountpoint)], check=True)
    for i in range(files):
        (mountpoint / f"file{i}").write_text(f"{i}\n")
    subprocess.run(["xfs_io", "-x", "-c", "shutdown -f", str(mountpoint)], check=True)
    subprocess.run(["umount", str(mountpoint)], check=True)


def _destroy_log(device: str) -> None:
    """Overwrite the first 32 KiB of the internal log: no mount can replay it any more."""
    start = subprocess.run(["xfs_db", "-r", "-c", "sb 0", "-c", "p logstart", device],
                           capture_output=True, text=True, check=True).stdout.split("=")[1]
    daddr = subprocess.run(["xfs_db", "-r", "-c", f"convert fsblock {start.strip()} daddr",
                            device], capture_output=True, text=True, check=True).stdout
    sector = int(daddr.split("(")[1].split(")")[0])
    with open(device, "r+b") as disk:
        disk.seek(sector * 512)
        disk.write(os.urandom(32 * 1024))


@pytest.fixture
def xfs_device(tmp_path: Path):  # type: ignore[no-untyped-def]
    image = tmp_path / "xfs.img"
    with open(image, "wb") as f:
        f.truncate(400 << 20)
    subprocess.run(["mkfs.xfs", "-q", str(image)], check=True)
    loop = _loop(image)
    try:
        yield loop, tmp_path
    finally:
        subprocess.run(["umount", str(tmp_path / "mnt")], capture_output=True, check=False)
        subprocess.run(["losetup", "--detach", loop], check=True)


def test_a_dirty_log_is_replayed_by_a_mount_then_repaired(xfs_device: tuple[str, Path]) -> None:
    loop, tmp = xfs_device
    _crash(loop, tmp / "mnt")
    runner = CommandRunner()
    finding = check_filesystem(runner, loop, "xfs")
    assert not finding.ok and finding.finding == "dirty-log", finding
    plan = plan_fsck(finding, tmp / "replay")
    assert [s.argv for s in plan.steps] == [
        ["mkdir", "-p", str(tmp / "replay")],
        ["mount", "-t", "xfs", "-o", "nouuid,nosuid,nodev,noexec", loop, str(tmp / "replay")],
        ["umount", str(tmp / "replay")], ["xfs_repair", loop]]
    for step in plan.steps:
        assert runner.run_blocking(step.argv).ok
    assert check_filesystem(runner, loop, "xfs").ok
    subprocess.run(["mount", "-o", "ro", loop, str(tmp / "mnt")], check=True)
    try:  # the replay kept what the log held: every file written before the crash
        assert sorted((tmp / "mnt").iterdir()) == sorted(tmp / "mnt" / f"file{i}"
                                                         for i in range(40))
    finally:
        subprocess.run(["umount", str(tmp / "mnt")], check=True)


def test_an_unreadable_log_needs_zeroing_and_says_what_is_lost(
        xfs_device: tuple[str, Path]) -> None:
    loop, tmp = xfs_device
    _crash(loop, tmp / "mnt")
    _destroy_log(loop)
    runner = CommandRunner()
    finding = check_filesystem(runner, loop, "xfs")
    assert not finding.ok and finding.finding == "bad-log", finding
    failed = runner.run_blocking(plan_fsck(finding, tmp / "replay").steps[1].argv)
    assert not failed.ok  # the kernel cannot replay it either
    plan = plan_xfs_zero_log(finding, failed.describe_failure())
    assert plan.second_confirmation and "lost" in plan.second_confirmation
    assert [s.argv for s in plan.steps] == [["xfs_repair", "-L", loop]]
    assert runner.run_blocking(plan.steps[0].argv).ok
    assert check_filesystem(runner, loop, "xfs").ok


def _disk_with_xfs_data(tmp: Path) -> BuiltDisk:
    from rescuetui.lab.disk import build_disk

    parts = [Part(320, "xfs", "/srv", label="srv"), Part(None, "ext4", "/", label="root")]
    return build_disk(tmp / "xfsdata.img", parts, size_mb=1700, tree=debian_tree())


def test_repair_replays_a_crashed_data_filesystem(tmp_path: Path) -> None:
    disk = _disk_with_xfs_data(tmp_path)
    loop = _loop(disk.image)
    try:
        _crash(f"{loop}p1", tmp_path / "mnt")
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)
    out = rescuetui("repair", "--disk", str(disk.image), "--yes", "--json", "--journal",
                    str(tmp_path / "j"), timeout=900)
    report = json.loads(out.stdout)
    assert report["applied"][0]["fix"] == "fsck", report
    argv = [s["argv"] for s in report["applied"][0]["plan"]["steps"]]
    assert argv[1][:3] == ["mount", "-t", "xfs"] and argv[-1][0] == "xfs_repair"
    assert report["applied"][0]["verified"]


def test_zeroing_the_log_is_refused_unattended_and_done_when_a_person_types_yes(
        tmp_path: Path) -> None:
    disk = _disk_with_xfs_data(tmp_path)
    loop = _loop(disk.image)
    try:
        _crash(f"{loop}p1", tmp_path / "mnt")
        _destroy_log(f"{loop}p1")
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)
    unattended = rescuetui("repair", "--disk", str(disk.image), "--yes", "--json", "--fix",
                           "fsck", "--fix", "fsck-zero-log", "--journal", str(tmp_path / "j"),
                           timeout=900)
    report = json.loads(unattended.stdout)
    assert unattended.returncode == 6, report
    assert any("fsck-zero-log" in r and "person" in r for r in report["refused"]), report

    # A person at a terminal: `--yes` answers the ordinary questions, the data-loss one is typed.
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(rescuetui_exe(), [rescuetui_exe(), "repair", "--disk", str(disk.image), "--yes",
                                   "--fix", "fsck", "--fix", "fsck-zero-log",
                                   "--journal", str(tmp_path / "j2")])
    seen = b""
    deadline = time.monotonic() + 600
    answered = False
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"Type YES to accept" in seen:
            os.write(fd, b"YES\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    assert answered, seen.decode(errors="replace")[-2000:]
    assert b"xfs_repair -L" in seen
    assert b"Verify fsck-zero-log: ok" in seen, seen.decode(errors="replace")[-2000:]
    assert os.waitstatus_to_exitcode(status) in (0, 6)  # 6: other fixes were outside --fix
