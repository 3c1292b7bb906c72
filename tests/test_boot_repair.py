"""Repairs below the kernel on real practice disks: GRUB reinstalled into a zeroed MBR with the
partition table and every other disk untouched and undo putting the bytes back; healthy root=
forms left alone. Booting them is `make e2e`."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import rescuetui

from rescuetui.checks.bootloader import root_is_named
from rescuetui.core.bootchain import boot_code_kind
from rescuetui.core.inventory import BlockDevice
from rescuetui.core.probe import Identity
from rescuetui.core.rootpath import resolve_in_root
from rescuetui.core.session import RescueSession
from rescuetui.core.target import root_specs
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
                     identity=Identity(fstype="xfs", uuid="AB-cd", label="root"),
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
