"""The qemu command line that boots the live image the four ways an operator does: from CD or
from a USB stick, on BIOS (SeaBIOS) or UEFI (OVMF) firmware, its first serial port on stdio."""

from __future__ import annotations

import shutil
from pathlib import Path

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
FIRMWARES = ("bios", "uefi")
MEDIA = ("cd", "usb")


def qemu_command(iso: Path, *, firmware: str = "bios", medium: str = "cd",
                 disk: Path | None = None, scratch: Path | None = None) -> list[str]:
    """`scratch` holds the UEFI variable store (a private copy, as on a real machine's flash)."""
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", "1536", "-smp", "2", "-nodefaults",
            "-no-user-config", "-display", "none", "-serial", "stdio", "-monitor", "none"]
    if firmware == "uefi":
        if not OVMF_CODE.exists():
            raise SystemExit(f"{OVMF_CODE} is missing: apt-get install ovmf")
        if scratch is None:
            raise ValueError("UEFI needs a scratch directory for its variable store")
        variables = scratch / "OVMF_VARS.fd"
        shutil.copyfile(OVMF_VARS, variables)
        argv += ["-machine", "q35",
                 "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                 "-drive", f"if=pflash,format=raw,unit=1,file={variables}"]
    elif firmware != "bios":
        raise ValueError(f"firmware is one of {FIRMWARES}")
    if medium == "cd":
        argv += ["-drive", f"file={iso},format=raw,media=cdrom,readonly=on,if=none,id=live",
                 "-device", "ide-cd,drive=live,bootindex=0"]
    elif medium == "usb":
        # The hybrid image written to a stick as is (`dd`), seen as a USB mass-storage disk.
        argv += ["-device", "qemu-xhci,id=xhci",
                 "-drive", f"file={iso},format=raw,readonly=on,if=none,id=live",
                 "-device", "usb-storage,bus=xhci.0,drive=live,bootindex=0"]
    else:
        raise ValueError(f"medium is one of {MEDIA}")
    if disk is not None:
        argv += ["-drive", f"file={disk},format=raw,if=virtio"]
    return argv
