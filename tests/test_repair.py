"""`rescuetui repair` on real practice disks (Debian 12 from debootstrap): every scenario is
repaired, the checks pass afterwards, and every file that changed on the disk is in the journal.

Booting before and after is `make e2e` (minutes a scenario); here the disks are checked by
mounting them again, which takes seconds.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import SERIAL_DIR, rescuetui

from rescuetui.core.journal import Journal
from rescuetui.core.manifest import compare, snapshot
from rescuetui.core.session import RescueSession
from rescuetui.core.volumes import device_mapper_available
from rescuetui.lab.scenario import build_scenario
from rescuetui.lab.scenarios import SCENARIOS

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _tree_snapshot(image: Path, journal: Path) -> dict[str, tuple[int, ...]]:
    with RescueSession(journal_base=journal) as session:
        session.open_target(str(image), api=False)
        return snapshot(session.root)


def _journaled_paths(journal_dir: Path) -> set[str]:
    paths: set[str] = set()
    for record in Journal.open(journal_dir).records():
        if record["kind"] == "file-change":
            paths.add(record["path"])
        elif record["kind"] == "manifest":
            paths.update(record["added"] + record["removed"] + record["modified"])
    return paths


def _repair(image: Path, journal: Path, *extra: str) -> tuple[int, dict]:
    out = rescuetui("repair", "--disk", str(image), "--yes", "--json", "--journal", str(journal),
                    *extra, timeout=900)
    return out.returncode, json.loads(out.stdout or b"{}")


# The dracut rebuilds are the slowest repairs here (about 40 s each on 2 cores); `make e2e`
# repairs and boots them (lab verify), so `make test` leaves them to it (marker `long`).
LONG_REPAIRS = {"dracut-initramfs-deleted", "dracut-initramfs-truncated"}


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.long) if name in LONG_REPAIRS else name
    for name in sorted(SCENARIOS)
])
def test_scenario_is_repaired_and_every_change_journaled(name: str, tmp_path: Path) -> None:
    if SCENARIOS[name].base == "xfslvm" and not device_mapper_available():
        pytest.skip("the root is a logical volume and this kernel has no device-mapper: "
                    "the repair runs in the live image instead (make iso-xfslvm-e2e)")
    image = tmp_path / f"{name}.img"
    build = tmp_path / "build-journal"
    build_scenario(SCENARIOS[name], image, journal_base=build)
    # A scenario that damages the filesystem itself may leave nothing to mount before repair.
    before = _tree_snapshot(image, build) if SCENARIOS[name].break_device is None else None
    journal = tmp_path / "journal"
    status, report = _repair(image, journal, "--log", str(SERIAL_DIR / f"{name}.log"))
    assert status == 0, report
    assert report["diagnosis"]["class"] == SCENARIOS[name].expected_class
    assert all(a["ok"] and a["verified"] for a in report["applied"]) and report["applied"]
    assert report["remaining"] == []
    # Mounted again: every boot check passes now.
    again_status, again = _repair(image, tmp_path / "journal2")
    assert again_status == 3, again  # nothing found
    if before is not None:
        changed = compare(before, _tree_snapshot(image, build))
        recorded = _journaled_paths(Path(report["journal"]))
        unrecorded = [p for p in changed.added + changed.removed + changed.modified
                      if p not in recorded and not p.startswith("/var/log/rescuetui")]
        assert unrecorded == [], unrecorded[:20]


def test_without_yes_and_without_a_terminal_nothing_changes(tmp_path: Path) -> None:
    image = tmp_path / "fstab.img"
    build_scenario(SCENARIOS["fstab-missing-disk"], image, journal_base=tmp_path / "b")
    before = _tree_snapshot(image, tmp_path / "b")
    out = rescuetui("repair", "--disk", str(image), "--journal", str(tmp_path / "j"), "--json")
    assert out.returncode == 6, out.stderr  # refused
    assert "not confirmed" in json.loads(out.stdout)["refused"][0]
    assert compare(before, _tree_snapshot(image, tmp_path / "b")).empty


def test_dry_run_plans_and_changes_nothing(tmp_path: Path) -> None:
    image = tmp_path / "initramfs.img"
    build_scenario(SCENARIOS["initramfs-deleted"], image, journal_base=tmp_path / "b")
    before = _tree_snapshot(image, tmp_path / "b")
    out = rescuetui("repair", "--disk", str(image), "--dry-run", "--journal", str(tmp_path / "j"))
    assert b"update-initramfs -c -k" in out.stdout
    assert b"initramfs-rebuild: would apply (dry run)" in out.stdout
    assert b"verified" not in out.stdout.replace(b"nothing was verified", b"")
    assert out.returncode == 7, out.stdout  # problems found, and the fixes that would repair them
    assert compare(before, _tree_snapshot(image, tmp_path / "b")).empty
    status, report = _repair(image, tmp_path / "j2", "--dry-run", "--log",
                             str(SERIAL_DIR / "initramfs-deleted.log"))
    assert status == 7 and report["dry_run"] and report["would_apply"] == ["initramfs-rebuild"]
    # The initramfs check chose the way: no root= node, no previous kernel (there is one).
    assert report["path"] == ["initramfs-present", "fix-initramfs"], report["path"]
    assert not any(a["verified"] for a in report["applied"])
    # grub.cfg's entry names the initramfs the rebuild writes: not left over, not planned twice.
    assert report["remaining"] == [], report["remaining"]


def test_dry_run_checks_for_real(tmp_path: Path) -> None:
    """The read-only checks run in a dry run: a damaged root filesystem is found damaged (it
    once looked clean, every command answering 0), and only the repair is simulated."""
    image = tmp_path / "fs.img"
    build_scenario(SCENARIOS["root-fs-errors"], image, journal_base=tmp_path / "b")
    status, report = _repair(image, tmp_path / "j", "--dry-run")
    assert status == 7, report
    assert report["would_apply"] == ["fsck"] and not report["applied"][0]["verified"]
    commands = [r for r in Journal.open(Path(report["journal"])).records() if r["kind"] == "command"]
    looked = [r for r in commands if r["argv"][:2] == ["e2fsck", "-n"]]
    assert looked and not looked[0]["dry_run"] and looked[0]["exit"] not in (0, None)
    changes = [r for r in commands if r["argv"][:2] != ["e2fsck", "-n"]]
    assert changes and all(r["dry_run"] for r in changes), changes


def test_serial_console_is_read_back_from_the_regenerated_config(tmp_path: Path) -> None:
    """serial-console on a real Debian tree: grub-mkconfig runs in the sandbox, and "verified"
    comes from the default entry's command line and grub.cfg's terminal, read back."""
    image = tmp_path / "serial.img"
    build_scenario(SCENARIOS["initramfs-deleted"], image, journal_base=tmp_path / "b")
    with RescueSession(journal_base=tmp_path / "b") as session:
        session.open_target(str(image))
        session.make_writable()
        assert session.journal is not None
        session.journal.change_file(session.root, "/etc/default/grub",
                                    b'GRUB_DEFAULT=0\nGRUB_TIMEOUT=1\nGRUB_CMDLINE_LINUX=""\n',
                                    reason="test: no serial console")
    # grub-mkconfig in a chroot names the rescue host's device as root=: bootloader-root
    # corrects it afterwards.
    status, report = _repair(image, tmp_path / "j", "--fix", "initramfs-rebuild",
                             "--fix", "serial-console", "--fix", "bootloader-root")
    serial = next(a for a in report["applied"] if a["fix"] == "serial-console")
    assert status == 0 and serial["verified"], report
    summary = serial["verification"]["summary"]
    assert "console=ttyS0,115200n8" in summary and "terminal" in summary, summary


def test_undo_after_repair_restores_the_fstab(tmp_path: Path) -> None:
    image = tmp_path / "fstab.img"
    build_scenario(SCENARIOS["fstab-missing-disk"], image, journal_base=tmp_path / "b")
    status, report = _repair(image, tmp_path / "j")
    assert status == 0
    out = rescuetui("undo", "--session", report["journal"], "--journal", str(tmp_path / "u"))
    assert out.returncode == 0, out.stderr
    assert b"restored" in out.stdout and b"/etc/fstab" in out.stdout
    status, again = _repair(image, tmp_path / "j2", "--dry-run")
    assert any(a["fix"] == "fstab-nofail" for a in again["applied"])


def test_several_faults_at_once_and_a_separate_boot(tmp_path: Path) -> None:
    """Practice disk of our own: initramfs deleted AND the loader not executable AND a missing
    data disk, on the layout with /boot on its own partition."""
    image = tmp_path / "multi.img"
    build_scenario(SCENARIOS["initramfs-deleted"], image, journal_base=tmp_path / "b")
    with RescueSession(journal_base=tmp_path / "b") as session:
        target = session.open_target(str(image))
        session.make_writable()
        for name in ("loader-not-executable", "fstab-missing-disk"):
            step = SCENARIOS[name].break_mounted
            assert step is not None
            step(session, target)
    status, report = _repair(image, tmp_path / "j")
    assert status == 0, report
    fixes = [a["fix"] for a in report["applied"]]
    assert fixes == ["permissions-restore", "initramfs-rebuild", "fstab-nofail"]
    # The initramfs went to the /boot partition, where GRUB looks, not into the root's /boot.
    loop = subprocess.run(["losetup", "--find", "--show", "--partscan", "--read-only",
                           str(image)], capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run(["partx", "-u", loop], check=False, capture_output=True)
        listing = subprocess.run(["debugfs", "-R", "ls -l /", f"{loop}p1"], capture_output=True,
                                 text=True, check=True).stdout
        assert "initrd.img-" in listing
        root_boot = subprocess.run(["debugfs", "-R", "ls /boot", f"{loop}p2"],
                                   capture_output=True, text=True, check=True).stdout
        assert "initrd.img-" not in root_boot
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)


def test_silent_damage_is_found_by_package_verification(tmp_path: Path) -> None:
    """Practice disk of our own: a kernel image with bytes flipped in the middle (same size, so
    its boot header still adds up): only the package digests tell."""
    image = tmp_path / "bitrot.img"
    from rescuetui.lab.practice import copy_image, practice_base

    copy_image(practice_base(), image)
    with RescueSession(journal_base=tmp_path / "b") as session:
        target = session.open_target(str(image))
        session.make_writable()
        path = f"/boot/vmlinuz-{target.kernels[0].version}"
        data = bytearray((session.root / path.lstrip("/")).read_bytes())
        data[len(data) // 2: len(data) // 2 + 4096] = bytes(4096)
        assert session.journal is not None
        session.journal.change_file(session.root, path, bytes(data), reason="test: bit rot")
    status, report = _repair(image, tmp_path / "j")
    assert status == 0, report
    assert [a["fix"] for a in report["applied"]][:1] == ["package-reinstall"]
    damaged = report["applied"][0]["plan"]["why"]
    assert path in damaged


def test_boot_entry_with_a_stale_uuid_is_corrected_not_hidden(tmp_path: Path) -> None:
    """Practice disk of our own, the separate-/boot trap: /boot was re-created (new UUID) and
    fstab still names the old one. The only unclaimed ext4 on the disk is the one it meant;
    nofail would have hidden /boot and let kernel updates land on the root filesystem."""
    image = tmp_path / "stale.img"
    from rescuetui.lab.practice import copy_image, practice_base

    copy_image(practice_base(), image)
    with RescueSession(journal_base=tmp_path / "b") as session:
        session.open_target(str(image))
        session.make_writable()
        boot = next(r for r in session.target.fstab if r.entry.mountpoint == "/boot")  # type: ignore[union-attr]
        fstab = (session.root / "etc/fstab").read_bytes()
        stale = fstab.replace(boot.entry.spec.encode(), b"UUID=11111111-2222-4333-8444-555555555555")
        assert session.journal is not None
        session.journal.change_file(session.root, "/etc/fstab", stale, reason="test: stale")
    status, report = _repair(image, tmp_path / "j")
    assert status == 0, report
    (applied,) = report["applied"]
    assert applied["fix"] == "fstab-correct-uuid"
    assert f"+{boot.entry.spec} /boot" in applied["plan"]["diff"]
    assert "nofail" not in applied["plan"]["diff"]


def test_a_destroyed_boot_superblock_is_restored_from_a_backup(tmp_path: Path) -> None:
    """Practice disk of our own: /boot's primary superblock zeroed. libblkid sees no filesystem
    there and fstab cannot find /boot; the backup at block 8193 (1 KiB blocks) is found before
    the root is looked for and e2fsck restores the superblock from it, and only then are the
    system and its /boot whole again."""
    from rescuetui.lab.practice import copy_image, practice_base

    image = tmp_path / "superblock.img"
    copy_image(practice_base(), image)
    loop = subprocess.run(["losetup", "--find", "--show", "--partscan", str(image)],
                          capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run(["partx", "-u", loop], check=False, capture_output=True)
        with open(f"{loop}p1", "r+b") as boot:
            boot.seek(1024)
            boot.write(bytes(1024))
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)
    status, report = _repair(image, tmp_path / "j")
    assert status == 0, report
    assert [a["fix"] for a in report["applied"]] == ["superblock-restore"]
    assert report["applied"][0]["plan"]["steps"][0]["argv"][:7] == [
        "e2fsck", "-f", "-y", "-b", "8193", "-B", "1024"]
    again_status, _ = _repair(image, tmp_path / "j2")
    assert again_status == 3
