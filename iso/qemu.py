"""The qemu command line that boots the live image the four ways an operator does: from CD or
from a USB stick, on BIOS (SeaBIOS) or UEFI (OVMF) firmware, its first serial port on stdio;
and the live system's root shell driven over that serial port (pexpect), for the end-to-end
scripts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pexpect

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


def live_shell(argv: list[str], serial_log: Path, *, start_timeout: float = 600
               ) -> pexpect.spawn:
    """Boot qemu (`argv`), wait for rescuetui's start screen on the serial console, leave it
    (q) for the live system's root shell and make that shell plain (wide, TERM=dumb). The
    console's whole output goes to `serial_log`; the caller closes the child."""
    child = pexpect.spawn(argv[0], argv[1:], timeout=600, encoding="utf-8",
                          codec_errors="replace")
    child.logfile_read = open(serial_log, "w")  # noqa: SIM115 - closed with the child
    try:
        child.expect("Enter Start", timeout=start_timeout)
        child.send("q")
        child.expect("root@rescuetui", timeout=120)
        shell(child, "stty cols 200; export TERM=dumb", "TTY")
    except BaseException:
        child.close(force=True)
        raise
    return child


def shell(child: pexpect.spawn, command: str, marker: str, timeout: float = 300) -> str:
    """Run `command` in the live system's root shell; return what it printed (SystemExit
    with its output when it fails)."""
    child.sendline(f"{command}; echo {marker}-DONE-$?")
    child.expect(rf"{marker}-DONE-(\d+)", timeout=timeout)
    output: str = child.before
    if child.match.group(1) != "0":
        raise SystemExit(f"FAIL: `{command}` exited {child.match.group(1)}:\n{output}")
    return output
