"""The UEFI practice base (GPT, ESP, /boot, /; GRUB for x86_64-efi on the fallback path) and
the lab's OVMF boots with a fresh NVRAM."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rescuetui.lab.boot import OVMF_CODE, BootWatcher, qemu_argv
from rescuetui.lab.scenario import Scenario

# The serial console of a real OVMF boot of the UEFI base with both loaders deleted from its ESP.
SHELL_FILE = "Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)/FvFile(7C04A583-9E3E-4F1C-AD65-E05268D0B4D1)"
NO_LOADER_CONSOLE = f"""\
BdsDxe: failed to load Boot0001 "UEFI Misc Device" from PciRoot(0x0)/Pci(0x1,0x0): Not Found
BdsDxe: loading Boot0002 "EFI Internal Shell" from {SHELL_FILE}
BdsDxe: starting Boot0002 "EFI Internal Shell" from {SHELL_FILE}
UEFI Interactive Shell v2.2
EDK II
"""


def _option(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def test_qemu_argv_uefi_has_q35_ovmf_and_this_boots_nvram(tmp_path: Path) -> None:
    nvram = tmp_path / "OVMF_VARS.fd"
    argv = qemu_argv(tmp_path / "overlay.qcow2", firmware="uefi", nvram=nvram)
    assert _option(argv, "-machine") == ["q35"]
    assert _option(argv, "-accel") == ["tcg"]
    drives = _option(argv, "-drive")
    assert f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}" in drives
    assert f"if=pflash,format=raw,unit=1,file={nvram}" in drives
    assert f"file={tmp_path / 'overlay.qcow2'},if=virtio,format=qcow2,cache=unsafe" in drives
    assert "-fw_cfg" not in argv  # SeaBIOS's serial console option is for BIOS boots only


def test_qemu_argv_bios_is_unchanged(tmp_path: Path) -> None:
    sercon = tmp_path / "sercon-port"
    argv = qemu_argv(tmp_path / "overlay.qcow2", sercon=sercon)
    assert _option(argv, "-fw_cfg") == [f"name=etc/sercon-port,file={sercon}"]
    assert "-machine" not in argv and not any("pflash" in d for d in _option(argv, "-drive"))


def test_qemu_argv_refuses_uefi_without_nvram_and_unknown_firmware(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NVRAM"):
        qemu_argv(tmp_path / "o.qcow2", firmware="uefi")
    with pytest.raises(ValueError, match="firmware"):
        qemu_argv(tmp_path / "o.qcow2", firmware="coreboot")


def test_ovmf_shell_without_loader_is_the_uefi_shell_outcome() -> None:
    watcher = BootWatcher()
    assert watcher.feed(NO_LOADER_CONSOLE, 4.0) == "uefi-shell"
    assert watcher.evidence == "UEFI Interactive Shell v2.2"
    assert BootWatcher().feed("Shell> ", 1.0) == "uefi-shell"


def test_scenarios_are_bios_unless_they_say_uefi() -> None:
    s = Scenario("n", "t", "s", "panic", "unknown", "f", ("a", "b"))
    assert s.firmware == "bios"


def _esp_listing(image: Path, offset: int) -> str:
    env = os.environ | {"MTOOLS_SKIP_CHECK": "1"}
    return subprocess.run(["mdir", "-i", f"{image}@@{offset}", "-/", "-b", "::/"], env=env,
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.boot
def test_uefi_base_layout_and_boot_under_ovmf_to_login() -> None:
    """The base (built once, cached): GPT with the ESP first, FAT32 without a label, both
    loaders on it, fstab by UUID with the ESP; then one boot under OVMF with a fresh NVRAM
    (only the fallback loader can be found) to `login:`."""
    from rescuetui.lab.boot import boot
    from rescuetui.lab.uefi import partition_span, uefi_base

    for tool in ("qemu-system-x86_64", "mcopy", "mkfs.vfat", "debootstrap"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (run `make setup`)")
    if not OVMF_CODE.is_file():
        pytest.skip(f"{OVMF_CODE} is missing (install ovmf)")
    image = uefi_base()
    table = json.loads(subprocess.run(["sfdisk", "--json", str(image)], capture_output=True,
                                      text=True, check=True).stdout)["partitiontable"]
    assert table["label"] == "gpt"
    types = [p["type"] for p in table["partitions"]]
    assert types[0] == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" and len(types) == 3
    offset, size = partition_span(image, 1)
    assert size == 100 * 1024 * 1024
    probe = subprocess.run(["blkid", "-p", "-O", str(offset), "-o", "export", str(image)],
                           capture_output=True, text=True, check=True).stdout
    assert "TYPE=vfat" in probe and "VERSION=FAT32" in probe and "LABEL=" not in probe
    listing = _esp_listing(image, offset)
    assert "::/EFI/BOOT/BOOTX64.EFI" in listing and "::/EFI/debian/grubx64.efi" in listing

    result = boot(image, timeout=240, firmware="uefi")
    assert result.outcome == "login", result.log[-2000:]
    assert "practice login:" in result.evidence
    assert "Welcome to GRUB!" in result.log
    assert "Mounted boot-efi.mount" in result.log  # the guest mounts the ESP (fstab by UUID)
