"""`make iso-e2e`: the live image boots under qemu with a broken practice disk attached;
rescuetui, started on the serial console by the image itself, is driven over that console as an
operator would (pexpect); the disk is repaired; the machine is shut down; then the practice
disk boots alone and must reach `login:`. Prints each step with its time.

Usage: python iso/e2e.py IMAGE.iso [SCENARIO]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pexpect
from qemu import qemu_command

START = time.monotonic()


def step(text: str) -> None:
    print(f"[{time.monotonic() - START:6.1f}s] {text}", flush=True)


def main() -> int:
    from rescuetui.lab.boot import boot
    from rescuetui.lab.scenario import build_scenario
    from rescuetui.lab.scenarios import SCENARIOS

    iso = Path(sys.argv[1])
    name = sys.argv[2] if len(sys.argv) > 2 else "initramfs-deleted"
    firmware = SCENARIOS[name].firmware  # the live image boots as the broken disk's machine
    with tempfile.TemporaryDirectory(prefix="rescuetui-iso-e2e-") as tmp:
        disk = Path(tmp) / f"{name}.img"
        build_scenario(SCENARIOS[name], disk, journal_base=Path(tmp) / "build")
        step(f"practice disk {name} built")
        before = boot(disk, timeout=240, firmware=firmware)
        step(f"the practice disk alone: {before.outcome} ({before.evidence})")
        if before.outcome == "login":
            print("FAIL: the practice disk was not broken")
            return 1
        argv = qemu_command(iso, disk=disk, firmware=firmware, scratch=Path(tmp))
        child = pexpect.spawn(argv[0], argv[1:], timeout=600,
                              encoding="utf-8", codec_errors="replace")
        child.logfile_read = open(Path(tmp) / "serial.log", "w")  # noqa: SIM115
        try:
            child.expect("Enter Start", timeout=600)
            step("live image booted; rescuetui is on the serial console")
            for wait_for, key, what in (
                ("Installed systems", "\r", "start"),
                ("read the evidence", "\r", "system chosen, mounted read-only"),
                ("Where is the evidence", "\r", "mount tree seen"),
                ("check the system", "\r", "the system's own logs read"),
                ("Enter shows what it will do", "\r", "decision tree and checks"),
                ("y applies this fix", "\r", "fix preview"),
            ):
                child.send(key)
                child.expect(wait_for, timeout=600)
                step(what)
            child.send("y")
            child.expect("Enter: the report", timeout=900)
            if "VERIFIED" not in child.before:
                print("FAIL: the fix did not verify")
                return 1
            step("fix applied and verified")
            child.send("\r")
            child.expect("Journal:", timeout=120)
            child.send("q")
            child.expect("root@rescuetui", timeout=120)
            step("rescuetui left, everything taken down; shutting down")
            child.send("poweroff\r")
            child.expect(pexpect.EOF, timeout=300)
        finally:
            child.close(force=True)
        after = boot(disk, timeout=300, firmware=firmware)
        step(f"the practice disk alone again: {after.outcome} ({after.evidence})")
        print(f"serial log of the live session: kept only while running ({tmp})")
        return 0 if after.outcome == "login" else 1


if __name__ == "__main__":
    sys.exit(main())
