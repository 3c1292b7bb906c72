"""XFS root on LVM: the filesystem crashed with changes in its log, and the log itself was then
lost (as when a disk's volatile write cache drops the log's last writes at a power cut).

Found with real boots of the XFS-on-LVM base: a log that is merely dirty (`xfs_io -x -c
'shutdown -f'`, a real crash) boots, since the kernel replays it when the initramfs mounts the
root; even 32 KiB of garbage at the log's start boots (the kernel finds the head further on).
What stops the boot is a log the kernel cannot read at all: "log mount/recovery failed: error
-117", sysroot.mount fails and dracut stops in its emergency shell. No mount can replay that
log, so the only repair is `xfs_repair -L`, which throws the log away (the crash's last
metadata changes are lost): rescuetui's zero-log plan, which asks for a second, typed
confirmation that --yes does not give.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from rescuetui.lab.scenario import Scenario
from rescuetui.lab.scenarios.xfs_lvm_dirty_log import CRASHED_FILES, crash
from rescuetui.lab.xfslvm import loop, root_volume


def _xfs_db(device: str, command: str) -> str:
    return subprocess.run(["xfs_db", "-r", "-c", "sb 0", "-c", command, device],
                          capture_output=True, text=True, check=True).stdout


def break_image(image: Path) -> str:
    offset, size = root_volume(image)
    with loop(image, offset=offset, size=size) as device:
        crash(device)  # a real crash: the log holds the changes
        start = int(_xfs_db(device, "p logstart").split("=")[1])
        blocks = int(_xfs_db(device, "p logblocks").split("=")[1])
        block_size = int(_xfs_db(device, "p blocksize").split("=")[1])
        daddr = subprocess.run(["xfs_db", "-r", "-c", f"convert fsblock {start} daddr", device],
                               capture_output=True, text=True, check=True).stdout
        sector = int(daddr.split("(")[1].split(")")[0])
        # The whole log unreadable (the same bytes every build, for the same console).
        with open(device, "r+b") as disk:
            disk.seek(sector * 512)
            disk.write(random.Random(12).randbytes(blocks * block_size))
    return (f"the root volume's XFS crashed with {CRASHED_FILES} files' changes in its log; "
            f"then its whole log ({blocks * block_size // 1024} KiB) was overwritten")


SCENARIO = Scenario(
    name="xfs-lvm-log-lost",
    title="XFS root on LVM: the log of the crashed root filesystem cannot be replayed",
    symptom="The VM does not boot. The console says XFS (dm-0): log mount/recovery failed: "
    "error -117, Failed to mount sysroot.mount, and dracut enters emergency mode.",
    expected_outcome="initramfs-shell",
    expected_class="fs-boot-error",
    expected_fix="fsck-zero-log",
    hints=(
        "XFS replays its log when it is mounted; xfs_repair refuses to run over a dirty log. "
        "First try to mount it once on the rescue host (that replays it), then unmount.",
        "When even that mount fails (log mount/recovery failed), the log is lost: xfs_repair -L "
        "zeroes it and repairs the rest. The last changes before the crash are gone: image the "
        "disk first if its data matters.",
        "The root is a logical volume: activate rootvg on the rescue host and repair "
        "/dev/mapper/rootvg-rootlv unmounted.",
    ),
    break_image=break_image,
    base="xfslvm",
)
