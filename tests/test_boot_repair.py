"""Repairs below the kernel on real practice disks: GRUB reinstalled into a zeroed MBR with the
partition table and every other disk untouched and undo putting the bytes back; healthy root=
forms left alone. Booting them is `make e2e`."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import rescuetui

from rescuetui.checks.base import TargetContext
from rescuetui.checks.bootloader import root_is_named
from rescuetui.checks.esp import check_esp
from rescuetui.core.bootchain import boot_code_kind
from rescuetui.core.inventory import BlockDevice
from rescuetui.core.probe import Identity
from rescuetui.core.rootpath import resolve_in_root
from rescuetui.core.session import RescueSession
from rescuetui.core.target import root_specs
from rescuetui.core.undo import undo_session
from rescuetui.fixes.base import apply_plan
from rescuetui.fixes.esp import plan_esp
from rescuetui.lab.disk import BuiltDisk, Part
from rescuetui.lab.practice import copy_image, practice_base
from rescuetui.lab.scenario import build_scenario
from rescuetui.lab.scenarios import SCENARIOS

MIB = 1 << 20


def _head(path: Path | str, length: int = MIB) -> bytes:
    with open(path, "rb") as f:
        return f.read(length)


def _digest(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MIB):
            h.update(chunk)
    return h.hexdigest()


def test_root_named_by_mapper_paths_partuuid_and_label() -> None:
    """An imported LVM copy (rescuetui_rootvg-root) still names root as the system does."""
    lv = BlockDevice("/dev/dm-3", "dm-3", "disk", "dm", 1 << 30, "253:3",
                     known_identity=Identity(fstype="xfs", uuid="AB-cd", label="root"),
                     dm_name="rescuetui_rootvg-root--lv")
    specs = root_specs(lv)
    assert specs == ["UUID=AB-cd", "LABEL=root", "/dev/mapper/rootvg-root--lv",
                     "/dev/rootvg/root-lv"]
    for spec in ("UUID=ab-CD", "/dev/mapper/rootvg-root--lv", "/dev/rootvg/root-lv", "LABEL=root"):
        assert root_is_named(spec, specs), spec
    for spec in ("/dev/loop0p2", "UUID=other", "/dev/rootvg/root", "LABEL=Root"):
        assert not root_is_named(spec, specs), spec


@pytest.mark.root
@pytest.mark.slow
def test_zeroed_boot_code_reinstalled_on_the_chosen_disk_only_and_undone(tmp_path: Path) -> None:
    broken = tmp_path / "mbr-zeroed.img"
    build_scenario(SCENARIOS["mbr-zeroed"], broken, journal_base=tmp_path / "build")
    assert boot_code_kind(_head(broken, 512)) == "none"
    before = _head(broken)
    # A second disk that also carries GRUB, attached to the host as another disk would be.
    other = tmp_path / "other.img"
    copy_image(practice_base(), other)
    loop = subprocess.run(["losetup", "--find", "--show", "--partscan", str(other)],
                          capture_output=True, text=True, check=True).stdout.strip()
    try:
        other_digest = _digest(loop)
        out = rescuetui("repair", "--disk", str(broken), "--yes", "--json",
                        "--journal", str(tmp_path / "journal"), timeout=900)
        report = json.loads(out.stdout)
        assert out.returncode == 0, report
        fixes = [a["fix"] for a in report["applied"]]
        assert fixes == ["grub-reinstall"] and report["applied"][0]["verified"]
        after = _head(broken)
        assert boot_code_kind(after[:512]) == "grub"
        assert after[440:512] == before[440:512]  # disk signature and partition table kept
        assert _digest(loop) == other_digest
    finally:
        subprocess.run(["losetup", "--detach", loop], check=False)
    undo = rescuetui("undo", "--session", report["journal"], "--disk", str(broken),
                     "--journal", str(tmp_path / "undo"))
    assert undo.returncode == 0, undo.stdout + undo.stderr
    assert b"the MBR boot code" in undo.stdout and b"the post-MBR gap" in undo.stdout
    assert _head(broken) == before  # byte for byte


@pytest.mark.root
@pytest.mark.slow
def test_a_healthy_partuuid_root_is_not_rewritten(tmp_path: Path) -> None:
    image = tmp_path / "partuuid.img"
    copy_image(practice_base(), image)
    with RescueSession(journal_base=tmp_path / "j") as session:
        target = session.open_target(str(image), api=False)
        session.make_writable()
        partuuid = next(s for s in target.root_specs if s.startswith("PARTUUID="))
        cfg = resolve_in_root(session.root, "/boot/grub/grub.cfg")
        text = re.sub(r"root=UUID=\S+", f"root={partuuid}", cfg.read_text())
        assert session.journal is not None
        session.journal.change_file(session.root, "/boot/grub/grub.cfg", text.encode(),
                                    reason="test: root= by PARTUUID")
    digest = _digest(image)
    out = rescuetui("repair", "--disk", str(image), "--yes", "--json",
                    "--journal", str(tmp_path / "journal"), timeout=900)
    report = json.loads(out.stdout)
    assert out.returncode == 3, report  # nothing found
    assert report["applied"] == []
    assert _digest(image) == digest  # read-only from start to end: not one byte written


DEBIAN = 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n'
GRUB_EFI = Path("/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi")


@pytest.mark.root
@pytest.mark.skipif(not GRUB_EFI.is_file(), reason="grub-efi-amd64-bin is not installed")
def test_esp_checked_and_its_boot_sector_restored_without_mounting(
        make_disk: Callable[..., BuiltDisk], tmp_path: Path) -> None:
    """A real GPT disk with a FAT32 ESP holding a real EFI GRUB image, never mounted: the check
    reads it with mtools, a zeroed boot sector is found, FAT32's backup copy put back, and undo
    puts the zeroed sector back byte for byte."""
    parts = [Part(64, "vfat", "/boot/efi", ptype="esp"), Part(None, "ext4", "/")]
    disk = make_disk(parts, files={"/etc/os-release": DEBIAN.encode(),
                                   "/boot/grub/x86_64-efi/normal.mod": b"module"},
                     dirs=("/boot/efi", "/proc", "/sys", "/dev", "/run", "/tmp"))
    loop = subprocess.run(["losetup", "--find", "--show", "--partscan", str(disk.image)],
                          capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run(["partx", "-u", loop], check=True)  # no udev: make the partition nodes
        esp = f"{loop}p1"
        subprocess.run(["mkfs.vfat", "-F", "32", "-s", "1", "-i", parts[0].vfat_id, esp], check=True,
                       capture_output=True)
        subprocess.run(["mmd", "-i", esp, "::/EFI", "::/EFI/BOOT", "::/EFI/debian"], check=True)
        for dest in ("::/EFI/BOOT/BOOTX64.EFI", "::/EFI/debian/grubx64.efi"):
            subprocess.run(["mcopy", "-i", esp, str(GRUB_EFI), dest], check=True)
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)
    with RescueSession(journal_base=tmp_path / "j") as session:
        target = session.open_target(str(disk.image))
        assert target.boot_mode == "uefi" and target.esp is not None
        ctx = TargetContext(session.root, target, session.runner, "")
        found = check_esp(ctx)
        assert found.ok, found.summary
        with open(target.esp, "r+b") as f:
            before = f.read(512)
            f.seek(0)
            f.write(bytes(512))
        broken = check_esp(ctx)
        assert (broken.ok, broken.finding) == (False, "esp-unreadable"), broken.summary
        plan = plan_esp(ctx, broken)
        assert plan.fix == "esp-boot-sector-restore" and not plan.blocked
        assert session.journal is not None
        applied = apply_plan(plan, session.root, session.runner, session.journal)
        assert applied.ok, applied.message
        ctx.reread_boot_chain()
        assert check_esp(ctx).ok
        with open(target.esp, "rb") as f:
            assert f.read(512) == before
        report = undo_session(session.journal, session.root, session.journal,
                              disk=target.boot_chain.disk if target.boot_chain else target.disk)
        assert any("the ESP" in r for r in report.restored), report
        with open(target.esp, "rb") as f:
            assert f.read(512) == bytes(512)
