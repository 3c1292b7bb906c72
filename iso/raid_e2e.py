"""md RAID assembly, end to end, on the live image under qemu (whose kernel has the md driver
this build host lacks: /proc/mdstat is missing here).

The live image boots with a blank disk. In its root shell a RAID1 array is made of the disk's
two partitions (mdadm --create, as an installer does), an ext4 filesystem with a system's
marks (os-release, fstab, /sbin/init) put on it, and the array stopped again, as a disk
arrives on a rescue host (the live image assembles nothing by itself: AUTO -all). Then:
`rescuetui scan --disk /dev/vda` must find no system and say to pass --assemble-raid;
`rescuetui scan --disk /dev/vda --assemble-raid` must assemble the array, find the system on
it and mount its tree; `rescuetui run --disk /dev/vda --assemble-raid -- cat /etc/os-release`
must run in its chroot; after each, the array is stopped again (nothing left assembled).

Usage: python iso/raid_e2e.py IMAGE.iso
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import pexpect
from qemu import live_shell, qemu_command, shell

START = time.monotonic()
MAKE_ARRAY = " && ".join([
    "printf 'label: gpt\\n,100M,R\\n,100M,R\\n' | sfdisk -q /dev/vda",
    "udevadm settle",
    "mdadm --create /dev/md/practice --run --level=1 --raid-devices=2 --metadata=1.2 "
    "--homehost=practice /dev/vda1 /dev/vda2",
    "mkfs.ext4 -q -L raidroot /dev/md/practice",
    "mkdir -p /mnt/r && mount /dev/md/practice /mnt/r",
    "mkdir -p /mnt/r/etc /mnt/r/sbin /mnt/r/bin /mnt/r/boot /mnt/r/dev /mnt/r/proc /mnt/r/sys "
    "/mnt/r/run /mnt/r/tmp",
    "printf 'ID=debian\\nVERSION_ID=12\\nPRETTY_NAME=\"RAID practice\"\\n' > /mnt/r/etc/os-release",
    "printf 'LABEL=raidroot / ext4 defaults 0 1\\n' > /mnt/r/etc/fstab",
    "ln -s /bin/sh /mnt/r/sbin/init",
    # sh and cat with their libraries (the array is small: not the live system's whole /usr)
    "cp --parents -L /bin/sh /bin/cat $(ldd /bin/sh /bin/cat | grep -o '/[^ :]*' | sort -u) "
    "/mnt/r/",
    "umount /mnt/r && mdadm --stop /dev/md/practice",
])
SUMMARY = r"""
import json, sys; d = json.load(open(sys.argv[1]))
print('RESULT', json.dumps({'notes': d['notes'],
      'targets': [[t.get('device'), t.get('distro', {}).get('name')] for t in d['targets']]}))
"""


def step(text: str) -> None:
    print(f"[{time.monotonic() - START:6.1f}s] {text}", flush=True)


def scan(child: pexpect.spawn, marker: str, *extra: str) -> dict[str, object]:
    shell(child, f"rescuetui scan --disk /dev/vda --json {' '.join(extra)} > /tmp/{marker}.json "
          f"2> /tmp/{marker}.err", marker)
    out = shell(child, f"/opt/rescuetui/bin/python -c \"{SUMMARY}\" /tmp/{marker}.json",
                marker + "S")
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    return json.loads(line.split(" ", 1)[1])  # type: ignore[no-any-return]


def main() -> int:
    iso = Path(sys.argv[1])
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rescuetui-raid-e2e-", dir="/var/tmp") as tmp:
        disk = Path(tmp) / "raid.img"
        with open(disk, "wb") as f:
            f.truncate(256 << 20)
        argv = qemu_command(iso, disk=disk)
        child = live_shell(argv, Path(tmp) / "serial.log")
        try:
            step("live image booted; at its shell")
            shell(child, MAKE_ARRAY, "MAKE", timeout=600)
            step("RAID1 of /dev/vda1 and /dev/vda2 made, a system put on it, the array stopped")
            locked = scan(child, "PLAIN")
            step(f"scan without --assemble-raid: {locked}")
            if locked["targets"] or not any("--assemble-raid" in n for n in locked["notes"]):
                failures.append(f"without --assemble-raid: {locked}")
            opened = scan(child, "RAID", "--assemble-raid")
            step(f"scan --assemble-raid: {opened}")
            if any("failed" in n for n in opened["notes"]):  # type: ignore[union-attr]
                failures.append(f"a note says something failed: {opened['notes']}")
            if not any(name == "RAID practice" for _, name in opened["targets"]):
                failures.append(f"the system on the array was not found: {opened}")
            ran = shell(child, "rescuetui run --disk /dev/vda --assemble-raid -- "
                        "cat /etc/os-release", "RUN")
            step("run --assemble-raid -- cat /etc/os-release: "
                 + ("ok" if "RAID practice" in ran else "FAILED"))
            if "RAID practice" not in ran:
                failures.append(f"run in the array's chroot: {ran[-400:]}")
            left = shell(child, "cat /proc/mdstat", "MD")
            if "active" in left:
                failures.append(f"an array is left assembled:\n{left}")
            else:
                step("nothing left assembled (/proc/mdstat)")
            child.sendline("poweroff")
            child.expect(pexpect.EOF, timeout=300)
            step("powered off")
        finally:
            child.close(force=True)
        for failure in failures:
            print(f"FAIL: {failure}")
        if failures:
            kept = Path(tempfile.gettempdir()) / "rescuetui-raid-e2e-serial.log"
            kept.write_bytes((Path(tmp) / "serial.log").read_bytes())
            print(f"serial log kept: {kept}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
