"""XFS root on LVM: the power went out while a kernel update was writing the initramfs. The
root filesystem crashed with the update's last changes only in its log (a dirty log), and the
default kernel's initramfs on /boot was left cut short.

A dirty log alone does not stop a boot: the kernel replays it when the initramfs mounts the
root (found with real boots; see xfs-lvm-log-lost for the log that cannot be replayed). Here
the boot never gets that far: the initramfs is damaged, the kernel panics before any root is
mounted, and the log stays dirty through every failed boot. On the rescue host `xfs_repair`
refuses to run over it ("valuable metadata changes in a log"); the repair is the one xfs_repair
itself asks for, unattended and losing nothing: mount once (the kernel replays the log),
unmount, xfs_repair, check again; then rebuild the initramfs.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from rescuetui.lab.scenario import Scenario
from rescuetui.lab.xfslvm import default_kernel, loop, mounted, mounted_boot, root_volume

CRASHED_FILES = 40


def crash(device: str) -> None:
    """Write CRASHED_FILES files on the XFS of `device`, then stop it as a power cut would
    (xfs_io's shutdown -f): the log holds the changes, the metadata in place does not."""
    with tempfile.TemporaryDirectory(dir="/run", prefix="rescuetui-break-") as where:
        with mounted(device, Path(where)):
            for number in range(CRASHED_FILES):
                (Path(where) / f"var/tmp/written-before-the-crash-{number}").write_text(
                    f"{number}\n")
            subprocess.run(["xfs_io", "-x", "-c", "shutdown -f", where], check=True)


def break_image(image: Path) -> str:
    offset, size = root_volume(image)
    with loop(image, offset=offset, size=size) as device:
        crash(device)
    with tempfile.TemporaryDirectory(dir="/run", prefix="rescuetui-break-") as where, \
            mounted_boot(image, Path(where)) as boot:
        kernel = default_kernel(boot)
        initrd = boot / f"initrd.img-{kernel}"
        size_before = initrd.stat().st_size
        keep = size_before // 3
        with open(initrd, "r+b") as image_file:
            image_file.truncate(keep)
    return (f"the root volume's XFS crashed with {CRASHED_FILES} files' changes in its log; "
            f"/boot/initrd.img-{kernel} cut from {size_before} to {keep} bytes")


SCENARIO = Scenario(
    name="xfs-lvm-dirty-log",
    title="XFS root on LVM: power lost during a kernel update (dirty log, initramfs cut short)",
    symptom="The VM lost power during an update and does not boot. Early on the kernel says "
    "'Initramfs unpacking failed: read error'; then it panics: VFS: Unable to mount root fs on "
    "unknown-block(0,0).",
    expected_outcome="panic",
    expected_class="initramfs-corrupt",
    expected_fix="initramfs-rebuild",
    hints=(
        "Two things broke at the power cut: the initramfs on /boot is cut short, and the root "
        "volume's XFS has changes in its log that no boot has replayed (it never got to mount "
        "the root).",
        "xfs_repair -n on /dev/mapper/rootvg-rootlv says the log holds valuable metadata "
        "changes: mount the volume once on the rescue host (that replays the log), unmount it, "
        "then run xfs_repair. Never -L for a log a mount can replay.",
        "Then rebuild the initramfs for that exact kernel, generic: dracut --force "
        "--no-hostonly IMAGE VERSION.",
    ),
    break_image=break_image,
    base="xfslvm",
)
