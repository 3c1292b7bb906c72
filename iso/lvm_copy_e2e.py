"""The repair-VM case with LVM, end to end, on the live image under qemu (whose kernel has the
device-mapper this build host lacks).

Two disks are attached: the lab's LVM practice disk (rootvg: root and var volumes) and a copy
of it, as a repair VM made from the same image sees its own disk and the broken one. In the
live system the first disk's rootvg is activated and its var volume mounted, standing in for
the repair VM's own. Then `rescuetui scan --disk /dev/vdb` must import the copy under a
temporary name (vgimportclone), resolve the copy's fstab (`/dev/mapper/rootvg-root`,
`/dev/rootvg/var`) to the copy's volumes and not the active ones of the same name, mount its
tree, and at the end put the copy's name and UUIDs back. After power-off, the host reads both
disks: identity (PV and VG UUIDs, name, volumes and extents) and data as before.

Usage: python iso/lvm_copy_e2e.py IMAGE.iso
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pexpect
from qemu import live_shell, qemu_command, shell

START = time.monotonic()
SUMMARY = r"""
import json; d = json.load(open('/tmp/scan.json'))
print('NOTES', json.dumps(d['notes']))
for t in d['targets']:
    print('FSTAB', json.dumps({e['mountpoint']: [e['status'], e['note']] for e in t['fstab']}))
    print('MOUNTED', json.dumps({c['mountpoint']: c['status'] for c in t['mount_check']}))
    print('MESSAGES', json.dumps([c['message'] for c in t['mount_check'] if c['message']]))
"""


def step(text: str) -> None:
    print(f"[{time.monotonic() - START:6.1f}s] {text}", flush=True)


def identities(images: list[Path]) -> list[dict[str, object]]:
    """Each disk's volume group identity and a digest of its data area, read on the host."""
    from rescuetui.core.mountstack import MountStack
    from rescuetui.core.session import remove_session_dirs
    from rescuetui.core.state import SessionState
    from rescuetui.lab.lvmdisk import data_digest, identity

    stack = MountStack(SessionState.create())
    found = []
    try:
        for image in images:
            pv = stack.attach_image(image) + "p1"
            found.append({**identity(pv), "data": data_digest(image, pv)})
    finally:
        stack.teardown()
        remove_session_dirs(stack.state.directory)
    return found


def main() -> int:
    from rescuetui.lab.lvmdisk import build_lvm_disk

    iso = Path(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="rescuetui-lvm-e2e-") as tmp:
        own, copy = Path(tmp) / "own.img", Path(tmp) / "copy.img"
        build_lvm_disk(own)
        shutil.copyfile(own, copy)
        before = identities([own, copy])
        assert before[0] == before[1]
        step("LVM practice disk and its copy built (rootvg: root, var)")
        argv = qemu_command(iso, disk=own)
        argv += ["-drive", f"file={copy},format=raw,if=virtio"]
        child = live_shell(argv, Path(tmp) / "serial.log")
        try:
            step("live image booted; at its shell")
            at_boot = shell(child, "dmsetup ls", "NOTHING")
            if "No devices found" not in at_boot:
                raise SystemExit(f"FAIL: the live system activated volumes by itself:\n{at_boot}")
            step("nothing activated at boot (LVM autoactivation is off in the live image)")
            shell(child, "vgchange --devices /dev/vda1 -ay rootvg && mkdir -p /own-var && "
                  "mount -o ro /dev/mapper/rootvg-var /own-var", "OWN")
            step("the first disk's rootvg active and its var mounted (the repair VM's own)")
            shell(child, "rescuetui scan --disk /dev/vdb --json > /tmp/scan.json 2> /tmp/scan.err", "SCAN")
            summary = shell(child, f"/opt/rescuetui/bin/python -c \"{SUMMARY}\"", "SUM")
            step("rescuetui scan --disk /dev/vdb done")
            summary = summary.replace("\r", "")
            for line in summary.splitlines():
                if line.startswith(("NOTES", "FSTAB", "MOUNTED", "MESSAGES")):
                    print(line, flush=True)
            print(shell(child, "cat /tmp/scan.err", "ERR").replace("\r", "").strip(), flush=True)
            mapped = shell(child, "dmsetup ls; pvs -o pv_name,pv_uuid,vg_name 2>/dev/null", "DM")
            print(mapped.strip(), flush=True)
            shell(child, "umount /own-var && vgchange --devices /dev/vda1 -an rootvg", "DOWN")
            child.sendline("poweroff")
            child.expect(pexpect.EOF, timeout=300)
            step("powered off")
        finally:
            child.close(force=True)
        failures = []
        lines = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1])
                 for line in summary.splitlines() if line.startswith(("NOTES", "FSTAB", "MOUNTED"))}
        if not any("is a copy of one this rescue system already has" in n
                   for n in lines.get("NOTES", [])):
            failures.append("no note that the volume group is a copy")
        fstab = lines.get("FSTAB", {})
        for mountpoint in ("/", "/var"):
            status, note = fstab.get(mountpoint, ["absent", ""])
            if status != "resolved" or "rescuetui_rootvg" not in note:
                failures.append(f"fstab {mountpoint}: {status} ({note})")
        if lines.get("MOUNTED", {}).get("/var") != "mounted":
            failures.append(f"the copy's /var was not mounted: {lines.get('MOUNTED')}")
        if "rescuetui_" in mapped:
            failures.append("a device of the imported copy is still mapped after the scan")
        after = identities([own, copy])
        if after != before:
            failures.append(f"identity changed:\nbefore {before}\nafter  {after}")
        else:
            step("both disks read on the host: names, UUIDs, volumes and data as before")
        for failure in failures:
            print(f"FAIL: {failure}")
        if failures:
            kept = Path(tempfile.gettempdir()) / "rescuetui-lvm-e2e-serial.log"
            shutil.copyfile(Path(tmp) / "serial.log", kept)
            print(f"serial log kept: {kept}")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
