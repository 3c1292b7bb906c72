"""`make iso-boot`: boot the live image from CD and from a USB stick, on BIOS and on UEFI
firmware, under qemu, and wait for rescuetui's first screen on the serial console each time.
Prints one line per way with the seconds it took; exits 1 if any way fails.

Usage: python iso/boot_matrix.py IMAGE.iso
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pexpect
from qemu import FIRMWARES, MEDIA, qemu_command

FIRST_SCREEN = "Enter Start"  # the key bar of rescuetui's start screen


def boot_once(iso: Path, firmware: str, medium: str, log: Path) -> tuple[bool, float, str]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rescuetui-boot-") as scratch:
        argv = qemu_command(iso, firmware=firmware, medium=medium, scratch=Path(scratch))
        child = pexpect.spawn(argv[0], argv[1:], timeout=600, encoding="utf-8",
                              codec_errors="replace")
        with log.open("w") as out:
            child.logfile_read = out
            try:
                seen = child.expect([FIRST_SCREEN, "Kernel panic", "\\(initramfs\\)",
                                     pexpect.EOF, pexpect.TIMEOUT], timeout=600)
            finally:
                child.close(force=True)
    seconds = time.monotonic() - started
    what = [FIRST_SCREEN, "kernel panic", "initramfs shell", "qemu exited", "timeout"][seen]
    return seen == 0, seconds, what


def main() -> int:
    iso = Path(sys.argv[1])
    logs = Path(tempfile.mkdtemp(prefix="rescuetui-boot-matrix-"))
    failed = 0
    print(f"{'firmware':8} {'medium':6} {'result':14} seconds")
    for firmware in FIRMWARES:
        for medium in MEDIA:
            log = logs / f"{firmware}-{medium}.log"
            ok, seconds, what = boot_once(iso, firmware, medium, log)
            print(f"{firmware:8} {medium:6} {'ok' if ok else 'FAIL: ' + what:14} {seconds:7.1f}",
                  flush=True)
            failed += not ok
    print(f"serial logs: {logs}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
