"""XFS root on LVM (the cloud's RHEL shape), repaired unattended in the live image, end to end.

This build host may have no device-mapper, so the practice disk's volume group cannot be
activated here; the live image's kernel has it. So: the scenario's disk is built (loop devices
at the volumes' offsets, rescuetui.lab.xfslvm) and booted alone under qemu, where it must fail;
its serial console is put on a small second disk (ext4, made on the host with mke2fs -d, no
mount); the live image boots with both disks; in its root shell (driven with pexpect, as
iso/lvm_copy_e2e.py does) `rescuetui repair --disk /dev/vda --log /mnt/log/before.log --yes`
runs and must exit 0; the machine powers off; the practice disk boots alone and must reach
`login:`. Each step is printed with its time and the kernel that booted.

With --repair-vm, the repair-VM case: the live system first has a disk of its own made from
the same base (volume group `rootvg`, same UUIDs, as a repair VM built from the cloud's image
has), with its rootvg active and its root volume mounted; the broken disk comes second
(/dev/vdb) and its twin volume group must be imported under another name for the repair and
given its own name back after (the repaired disk then boots alone, so its rootvg must be
`rootvg` again).

A repair that needs a second confirmation (data loss, such as `xfs_repair -L`) is not given
one by --yes: rescuetui asks on the terminal. Only with --type-yes does this script type YES
there, as the operator would, and it says so.

Usage: python iso/xfslvm_e2e.py IMAGE.iso [SCENARIO] [--type-yes] [--repair-vm] [--keep DIR]
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect
from qemu import live_shell, qemu_command, shell

START = time.monotonic()
KERNEL = re.compile(r"Linux version (\S+)")


def step(text: str) -> None:
    print(f"[{time.monotonic() - START:6.1f}s] {text}", flush=True)


def kernel_of(log: str) -> str:
    found = KERNEL.findall(log)
    return found[-1] if found else "(no kernel started)"


def log_disk(path: Path, log: str) -> None:
    """A 16 MiB ext4 image holding before.log, filled by mke2fs itself (no mount needed)."""
    content = path.with_suffix(".d")
    content.mkdir()
    (content / "before.log").write_text(log)
    with open(path, "wb") as f:
        f.truncate(16 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "serial-log", "-d", str(content), str(path)],
                   check=True)


def repair(child: pexpect.spawn, disk: str, type_yes: bool) -> tuple[int, str]:
    """The unattended repair in the live shell: its exit status and what it printed."""
    child.sendline(f"rescuetui repair --disk {disk} --log /mnt/log/before.log --yes; "
                   "echo REPAIR-DONE-$?")
    said = ""
    while True:
        index = child.expect([r"Type YES to accept: ", r"REPAIR-DONE-(\d+)"], timeout=1800)
        said += child.before + (child.after if index == 0 else "")
        if index == 1:
            return int(child.match.group(1)), said
        if not type_yes:
            step("rescuetui asks for a second confirmation (data loss): answering no")
            child.sendline("no")
            continue
        step("rescuetui asks for a second confirmation (data loss): typing YES, as the "
             "operator would (--type-yes)")
        child.sendline("YES")


def main() -> int:
    from rescuetui.lab.boot import boot
    from rescuetui.lab.scenario import build_scenario
    from rescuetui.lab.scenarios import SCENARIOS

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    type_yes = "--type-yes" in sys.argv
    repair_vm = "--repair-vm" in sys.argv
    keep = Path(sys.argv[sys.argv.index("--keep") + 1]) if "--keep" in sys.argv else None
    if keep is not None:
        args.remove(str(keep))
    iso = Path(args[0])
    name = args[1] if len(args) > 1 else "xfs-lvm-initramfs-deleted"
    with tempfile.TemporaryDirectory(prefix="rescuetui-xfslvm-e2e-") as tmp:
        disk = Path(tmp) / f"{name}.img"
        for line in build_scenario(SCENARIOS[name], disk):
            step(f"practice disk {name} built: {line}")
        before = boot(disk, timeout=SCENARIOS[name].boot_timeout)
        step(f"the practice disk alone: {before.outcome} after {before.seconds:.0f} s, kernel "
             f"{kernel_of(before.log)} ({before.evidence})")
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"{name}.before.log").write_text(before.log)
        if before.outcome == "login":
            print("FAIL: the practice disk was not broken")
            return 1
        log_disk(Path(tmp) / "log.img", before.log)
        drives = [disk, Path(tmp) / "log.img"]
        if repair_vm:
            from rescuetui.lab.practice import copy_image
            from rescuetui.lab.xfslvm import xfslvm_base

            copy_image(xfslvm_base(), Path(tmp) / "own.img")
            drives.insert(0, Path(tmp) / "own.img")
        broken, log_device = ("/dev/vdb", "/dev/vdc") if repair_vm else ("/dev/vda", "/dev/vdb")
        argv = qemu_command(iso, disk=drives[0])
        for extra in drives[1:]:
            argv += ["-drive", f"file={extra},format=raw,if=virtio"
                     + (",readonly=on" if extra.name == "log.img" else "")]
        child = live_shell(argv, Path(tmp) / "serial.log", start_timeout=900)
        try:
            live = shell(child, "uname -r", "UNAME").replace("\r", "").split("\n")
            step(f"live image booted (kernel {[x for x in live if x.strip()][-1].strip()}); "
                 "at its shell")
            shell(child, f"mkdir -p /mnt/log && mount -o ro {log_device} /mnt/log", "LOG")
            step(f"the failed boot's console mounted read-only from {log_device}")
            if repair_vm:
                shell(child, "vgchange --devices /dev/vda2 -ay rootvg && mkdir -p /own && "
                      "mount -o ro /dev/mapper/rootvg-rootlv /own", "OWN")
                step("the repair VM's own rootvg (/dev/vda2) active, its root volume mounted")
            status, said = repair(child, broken, type_yes)
            said = said.replace("\r", "")
            if keep is not None:
                (keep / f"{name}.repair.log").write_text(said)
            summary = said[said.rfind("Summary:"):] if "Summary:" in said else said[-2000:]
            step(f"rescuetui repair exited {status}")
            print(summary.strip(), flush=True)
            if repair_vm:
                names = shell(child, "pvs -o pv_name,vg_name,vg_uuid", "PVS").replace("\r", "")
                print(names.strip(), flush=True)
                shell(child, "umount /own && vgchange --devices /dev/vda2 -an rootvg", "DOWN")
            shell(child, "umount /mnt/log; sync", "SYNC")
            child.sendline("poweroff")
            child.expect(pexpect.EOF, timeout=300)
            step("live system powered off")
        finally:
            child.close(force=True)
            if keep is not None:
                shutil.copyfile(Path(tmp) / "serial.log", keep / f"{name}.live.log")
        if status != 0:
            print(f"FAIL: rescuetui repair exited {status}")
            return 1
        after = boot(disk, timeout=300)
        step(f"the repaired disk alone: {after.outcome} after {after.seconds:.0f} s, kernel "
             f"{kernel_of(after.log)} ({after.evidence})")
        if keep is not None:
            (keep / f"{name}.after.log").write_text(after.log)
        if after.outcome != "login":
            print("FAIL: the repaired disk did not reach login:")
            return 1
        return root_volume_after(disk, Path(tmp) / "after", name)


def root_volume_after(disk: Path, where: Path, name: str) -> int:
    """The repaired root volume read back on the build host, read-only (loop device at the
    volume's offset): xfs_repair -n must find it clean, and the files a crash left only in the
    log (xfs-lvm-dirty-log) must be there: its log was replayed, not thrown away."""
    from rescuetui.lab.xfslvm import loop, mounted, root_volume

    offset, size = root_volume(disk)
    with loop(disk, offset=offset, size=size, read_only=True) as device:
        check = subprocess.run(["xfs_repair", "-n", device], capture_output=True, text=True)
        with mounted(device, where, "-o", "ro,norecovery") as root:
            crashed = len(list((root / "var/tmp").glob("written-before-the-crash-*")))
    step(f"the repaired root volume: xfs_repair -n exit {check.returncode}; {crashed} files "
         "written just before the crash are there")
    if check.returncode != 0:
        print(f"FAIL: xfs_repair -n on the repaired root volume:\n{check.stdout[-2000:]}")
        return 1
    if name == "xfs-lvm-dirty-log":
        from rescuetui.lab.scenarios.xfs_lvm_dirty_log import CRASHED_FILES

        if crashed != CRASHED_FILES:
            print(f"FAIL: {CRASHED_FILES - crashed} of the files in the replayable log are lost")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
