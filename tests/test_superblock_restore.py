"""Destroyed primary superblocks on real loop disks: ext4 with 1, 2 and 4 KiB blocks (backups
at 8193, 16384, 32768) and XFS are found from their backups, restored, and undone; a partition
that holds no filesystem is left alone, and a mounted one is refused."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import rescuetui

from rescuetui.checks.superblock import check_superblock
from rescuetui.core.inventory import BlockDevice, in_use, scan_inventory
from rescuetui.core.journal import Journal
from rescuetui.core.probe import probe_device
from rescuetui.core.runner import CommandRunner
from rescuetui.core.superblock import unidentified_devices
from rescuetui.core.undo import undo_session
from rescuetui.fixes.base import apply_plan
from rescuetui.fixes.superblock import plan_superblock_restore, verify_restored
from rescuetui.lab.debian import debian_tree
from rescuetui.lab.disk import BuiltDisk, Part, build_disk, zero_bytes

pytestmark = [pytest.mark.root, pytest.mark.slow]
MIB = 1 << 20


@pytest.fixture
def loop_of() -> Iterator[Callable[[Path], str]]:
    attached: list[str] = []

    def attach(image: Path) -> str:
        loop = subprocess.run(["losetup", "--find", "--show", "--partscan", str(image)],
                              capture_output=True, text=True, check=True).stdout.strip()
        subprocess.run(["partx", "-u", loop], check=False, capture_output=True)
        attached.append(loop)
        return loop

    yield attach
    for loop in attached:
        subprocess.run(["losetup", "--detach", loop], check=False)


def _device(loop: str, number: int) -> BlockDevice:
    found = scan_inventory().get(f"{loop}p{number}")
    assert found is not None
    return found


def _read(device: str, length: int = MIB) -> bytes:
    with open(device, "rb") as f:
        return f.read(length)


def _restore_and_undo(loop: str, device: str, tmp: Path) -> tuple[dict, bytes]:
    """Find, restore and verify; then undo. Returns the finding's data and the bytes the
    partition starts with after the undo."""
    dev = _device(loop, 1)
    assert dev.path in {d.path for d in unidentified_devices(scan_inventory(), [loop])}
    finding = check_superblock(dev)
    assert not finding.ok and finding.finding == "destroyed", finding
    plan = plan_superblock_restore(finding, dev)
    assert not plan.blocked
    journal = Journal.create(tmp / "journal")
    applied = apply_plan(plan, tmp, CommandRunner(journal), journal)
    assert applied.ok, applied.message
    assert verify_restored(plan).ok
    undone = undo_session(journal, tmp, Journal.create(tmp / "undo"), disk=loop)
    assert len(undone.restored) == 1 and not undone.skipped, undone
    return finding.data, _read(device)


@pytest.mark.parametrize(("block_size", "backup"), [(1024, 8193), (2048, 16384), (4096, 32768)])
def test_ext4_with_a_zeroed_primary_is_restored_from_the_right_backup_and_undone(
        block_size: int, backup: int, make_disk: Callable[..., BuiltDisk],
        loop_of: Callable[[Path], str], tmp_path: Path) -> None:
    disk = make_disk([Part(300, None)], size_mb=320)
    loop = loop_of(disk.image)
    device = f"{loop}p1"
    subprocess.run(["mkfs.ext4", "-q", "-b", str(block_size), "-L", "data", device], check=True)
    uuid = probe_device(device).uuid
    zero_bytes(device, 1024, 1024)
    damaged = _read(device)
    assert probe_device(device).fstype is None  # what libblkid (and fstab's UUID=) sees

    data, after_undo = _restore_and_undo(loop, device, tmp_path)
    assert (data["block"], data["block_size"], data["uuid"]) == (backup, block_size, uuid)
    assert data["fstype"] == "ext4" and data["label"] == "data"
    assert after_undo == damaged  # undo put the damaged bytes back
    assert probe_device(device).fstype is None


def test_the_restore_runs_e2fsck_from_the_backup_and_brings_the_uuid_back(
        make_disk: Callable[..., BuiltDisk], loop_of: Callable[[Path], str],
        tmp_path: Path) -> None:
    disk = make_disk([Part(300, None)], size_mb=320)
    loop = loop_of(disk.image)
    device = f"{loop}p1"
    subprocess.run(["mkfs.ext4", "-q", device], check=True)  # 1 KiB blocks below 512 MiB
    uuid = probe_device(device).uuid
    zero_bytes(device, 1024, 1024)
    dev = _device(loop, 1)
    plan = plan_superblock_restore(check_superblock(dev), dev)
    assert [s.argv for s in plan.steps] == [["e2fsck", "-f", "-y", "-b", "8193", "-B", "1024",
                                             device]]
    start = int(Path(f"/sys/class/block/{dev.name}/start").read_text()) * 512
    assert plan.disk == loop and (plan.regions[0].offset, plan.regions[0].length) == (start, MIB)
    journal = Journal.create(tmp_path / "journal")
    assert apply_plan(plan, tmp_path, CommandRunner(journal), journal).ok
    assert probe_device(device).uuid == uuid
    assert subprocess.run(["e2fsck", "-n", "-f", device], capture_output=True).returncode == 0
    region = next(r for r in journal.records() if r["kind"] == "disk-region")
    assert Path(region["backup"]).read_bytes()[1024:2048] == bytes(1024)


@pytest.mark.parametrize("zeroed", [512, 4096])
def test_xfs_with_a_zeroed_primary_is_repaired_by_xfs_repair(
        zeroed: int, make_disk: Callable[..., BuiltDisk], loop_of: Callable[[Path], str],
        tmp_path: Path) -> None:
    """512 bytes: the superblock alone; 4096: its first allocation group's headers too
    (AGF, AGI, AGFL), so the AG size has to come from the device's size."""
    disk = make_disk([Part(400, None)], size_mb=420)
    loop = loop_of(disk.image)
    device = f"{loop}p1"
    subprocess.run(["mkfs.xfs", "-q", device], check=True)
    uuid = probe_device(device).uuid
    zero_bytes(device, zeroed)
    damaged = _read(device)
    assert probe_device(device).fstype is None

    data, after_undo = _restore_and_undo(loop, device, tmp_path)
    assert (data["fstype"], data["uuid"]) == ("xfs", uuid)
    assert after_undo == damaged


def test_what_holds_no_filesystem_is_not_restored(
        make_disk: Callable[..., BuiltDisk], loop_of: Callable[[Path], str]) -> None:
    disk = make_disk([Part(64, None), Part(64, None), Part(64, None)], size_mb=200)
    loop = loop_of(disk.image)
    with open(f"{loop}p1", "r+b") as f:
        f.write(os.urandom(64 * MIB))
    subprocess.run(["mkswap", "-q", f"{loop}p2"], check=True)
    # p3: never written (zeros), like a partition made and never formatted.
    candidates = {d.path for d in unidentified_devices(scan_inventory(), [loop])}
    assert f"{loop}p2" not in candidates  # swap: libblkid identifies it
    assert {f"{loop}p1", f"{loop}p3"} <= candidates
    for number in (1, 3):
        finding = check_superblock(_device(loop, number))
        assert finding.ok, finding


def _ext4_without_primary(make_disk: Callable[..., BuiltDisk],
                          loop_of: Callable[[Path], str]) -> tuple[str, str]:
    """A 300 MiB ext4 (1 KiB blocks) on partition 1 of a loop disk, its primary superblock
    zeroed: (loop device, partition)."""
    disk = make_disk([Part(300, None)], size_mb=320)
    loop = loop_of(disk.image)
    device = f"{loop}p1"
    subprocess.run(["mkfs.ext4", "-q", device], check=True)
    zero_bytes(device, 1024, 1024)
    return loop, device


def test_a_mounted_filesystem_is_refused(
        make_disk: Callable[..., BuiltDisk], loop_of: Callable[[Path], str],
        tmp_path: Path) -> None:
    loop, device = _ext4_without_primary(make_disk, loop_of)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    # The kernel mounts it from the backup (sb= counts 1 KiB units): mounted, primary gone.
    subprocess.run(["mount", "-o", "ro,sb=8193", device, str(mnt)], check=True)
    try:
        dev = _device(loop, 1)
        assert in_use(dev)
        finding = check_superblock(dev)
        assert not finding.ok and finding.data["busy"]
        plan = plan_superblock_restore(finding, dev)
        assert plan.blocked and "mounted" in plan.blocked and device in plan.blocked
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert not in_use(_device(loop, 1))


def test_repair_restores_a_small_boot_partition_before_mounting_the_system(
        tmp_path: Path) -> None:
    """A 300 MiB /boot (1 KiB blocks) whose primary superblock is gone: restored first, so
    fstab's UUID= finds it again and no fix is refused for a missing /boot."""
    parts = [Part(300, "ext4", "/boot", label="boot"), Part(None, "ext4", "/", label="root")]
    disk = build_disk(tmp_path / "boot.img", parts, size_mb=1700, tree=debian_tree())
    loop = subprocess.run(["losetup", "--find", "--show", "--partscan", str(disk.image)],
                          capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run(["partx", "-u", loop], check=False, capture_output=True)
        out = subprocess.run(["dumpe2fs", "-h", f"{loop}p1"], capture_output=True, text=True)
        assert "Block size:               1024" in out.stdout
        zero_bytes(f"{loop}p1", 1024, 1024)
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)
    out = rescuetui("repair", "--disk", str(disk.image), "--yes", "--json", "--journal",
                    str(tmp_path / "j"), timeout=900)
    report = json.loads(out.stdout)
    first = report["applied"][0]
    assert first["fix"] == "superblock-restore" and first["ok"] and first["verified"], report
    assert first["plan"]["steps"][0]["argv"][:7] == ["e2fsck", "-f", "-y", "-b", "8193", "-B",
                                                    "1024"]
    assert first["verification"]["data"]["uuid"] == disk.part("/boot").uuid
    assert not any("still not mounted" in r for r in report["refused"]), report
    assert not any(a["fix"].startswith("fstab") for a in report["applied"]), report


def test_undo_leaves_a_mounted_filesystem_alone(
        make_disk: Callable[..., BuiltDisk], loop_of: Callable[[Path], str],
        tmp_path: Path) -> None:
    loop, device = _ext4_without_primary(make_disk, loop_of)
    dev = _device(loop, 1)
    plan = plan_superblock_restore(check_superblock(dev), dev)
    journal = Journal.create(tmp_path / "journal")
    assert apply_plan(plan, tmp_path, CommandRunner(journal), journal).ok
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-o", "ro,noload", device, str(mnt)], check=True)
    try:
        report = undo_session(journal, tmp_path, Journal.create(tmp_path / "u"), disk=loop)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert not report.restored and "mounted" in report.skipped[0], report
    assert probe_device(device).fstype == "ext4"


def test_undo_after_repair_puts_the_destroyed_root_superblock_back(tmp_path: Path) -> None:
    """`rescuetui undo` restores the other changes with the target mounted, then the
    superblock region with nothing mounted; the repaired root was written since (mounted
    read-write by the repair), so only --force puts the damage back."""
    from rescuetui.lab.scenario import build_scenario
    from rescuetui.lab.scenarios import SCENARIOS

    image = tmp_path / "root-sb.img"
    build_scenario(SCENARIOS["root-superblock-destroyed"], image, journal_base=tmp_path / "b")
    out = rescuetui("repair", "--disk", str(image), "--yes", "--json", "--journal",
                    str(tmp_path / "j"), timeout=900)
    report = json.loads(out.stdout)
    assert out.returncode == 0 and report["applied"][0]["fix"] == "superblock-restore", report
    undo = rescuetui("undo", "--session", report["journal"], "--journal", str(tmp_path / "u"))
    assert b"skipped" in undo.stdout and b"primary superblock" in undo.stdout, undo.stdout
    forced = rescuetui("undo", "--session", report["journal"], "--force", "--journal",
                       str(tmp_path / "u2"))
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert b"restored" in forced.stdout and b"primary superblock" in forced.stdout
    again = rescuetui("repair", "--disk", str(image), "--dry-run", "--json", "--journal",
                      str(tmp_path / "j2"), timeout=900)
    planned = json.loads(again.stdout)
    assert planned["applied"][0]["fix"] == "superblock-restore", planned


def test_the_read_only_fsck_check_tells_a_damaged_ext_from_no_filesystem(
        make_disk: Callable[..., BuiltDisk], loop_of: Callable[[Path], str]) -> None:
    """With 1 KiB blocks e2fsck -n prints a line per block group after "trying backup blocks",
    far more than the runner's tail keeps: the exit status tells, not that line."""
    from rescuetui.checks.filesystems import check_filesystem

    disk = make_disk([Part(480, None), Part(32, None)], size_mb=520)
    loop = loop_of(disk.image)
    subprocess.run(["mkfs.ext4", "-q", "-b", "1024", f"{loop}p1"], check=True)
    zero_bytes(f"{loop}p1", 1024, 1024)
    with open(f"{loop}p2", "r+b") as f:
        f.write(os.urandom(32 * MIB))
    runner = CommandRunner()
    damaged = check_filesystem(runner, f"{loop}p1", None)
    assert not damaged.ok and damaged.data["fstype"] == "ext4", damaged
    assert check_filesystem(runner, f"{loop}p2", None).ok


def test_xfs_with_a_dirty_log_gets_its_primary_back_and_the_log_is_left_to_the_fsck_check(
        make_disk: Callable[..., BuiltDisk], loop_of: Callable[[Path], str],
        tmp_path: Path) -> None:
    """xfs_repair writes the primary superblock, then stops at the dirty log (status 2): the
    filesystem check after it replays the log with a mount (tests/test_xfs_repair.py)."""
    from rescuetui.checks.filesystems import check_filesystem

    disk = make_disk([Part(400, None)], size_mb=420)
    loop = loop_of(disk.image)
    device = f"{loop}p1"
    subprocess.run(["mkfs.xfs", "-q", device], check=True)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", device, str(mnt)], check=True)
    for i in range(20):
        (mnt / f"file{i}").write_text(f"{i}\n")
    subprocess.run(["xfs_io", "-x", "-c", "shutdown -f", str(mnt)], check=True)
    subprocess.run(["umount", str(mnt)], check=True)
    zero_bytes(device, 512)
    dev = _device(loop, 1)
    plan = plan_superblock_restore(check_superblock(dev), dev)
    journal = Journal.create(tmp_path / "journal")
    applied = apply_plan(plan, tmp_path, CommandRunner(journal), journal)
    assert applied.ok and applied.results[0].returncode == 2, applied.message
    assert verify_restored(plan).ok
    assert check_filesystem(CommandRunner(), device, "xfs").finding == "dirty-log"


def test_scan_diagnose_and_an_unconfirmed_repair_name_the_destroyed_root_superblock(
        tmp_path: Path) -> None:
    """Not "No installed Linux system found": every command says which partition, which
    backup, and what restores it; without --yes (and no terminal) nothing is written."""
    from rescuetui.lab.scenario import build_scenario
    from rescuetui.lab.scenarios import SCENARIOS

    image = tmp_path / "root-sb.img"
    build_scenario(SCENARIOS["root-superblock-destroyed"], image, journal_base=tmp_path / "b")
    digest = subprocess.run(["sha256sum", str(image)], capture_output=True, text=True,
                            check=True).stdout.split()[0]
    wanted = b"partition 2 (/dev/loop"
    scan = rescuetui("scan", "--disk", str(image))
    assert wanted in scan.stdout and b"destroyed ext4 superblock" in scan.stdout, scan.stdout
    assert b"block 32768 (4096-byte blocks)" in scan.stdout
    diagnose = rescuetui("diagnose", "--disk", str(image))
    assert diagnose.returncode != 0
    assert b"until a destroyed superblock is restored" in diagnose.stderr, diagnose.stderr
    assert b"rescuetui repair --disk" in diagnose.stderr
    refused = rescuetui("repair", "--disk", str(image), "--json", "--journal",
                        str(tmp_path / "j"), timeout=900)
    report = json.loads(refused.stdout)
    assert refused.returncode == 6, report
    assert report["refused"] == ["superblock-restore: not confirmed"], report
    assert b"No installed Linux system can be found until this is restored" in refused.stderr
    assert subprocess.run(["sha256sum", str(image)], capture_output=True, text=True,
                          check=True).stdout.split()[0] == digest


def test_repair_restores_a_destroyed_xfs_root_and_goes_on_to_the_system(tmp_path: Path) -> None:
    parts = [Part(300, "ext4", "/boot", label="boot"), Part(None, "xfs", "/", label="root")]
    disk = build_disk(tmp_path / "xfsroot.img", parts, size_mb=1700, tree=debian_tree())
    loop = subprocess.run(["losetup", "--find", "--show", "--partscan", str(disk.image)],
                          capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run(["partx", "-u", loop], check=False, capture_output=True)
        zero_bytes(f"{loop}p2", 512)
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)
    out = rescuetui("repair", "--disk", str(disk.image), "--yes", "--json", "--journal",
                    str(tmp_path / "j"), timeout=900)
    report = json.loads(out.stdout)
    first = report["applied"][0]
    assert first["fix"] == "superblock-restore" and first["verified"], report
    assert first["plan"]["steps"][0]["argv"][0] == "xfs_repair"
    target = next(r for r in Journal.open(Path(report["journal"])).records()
                  if r["kind"] == "target")
    assert (target["fstype"], target["uuid"]) == ("xfs", disk.part("/").uuid)
