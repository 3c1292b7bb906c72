"""XFS root on LVM, initramfs by dracut (the cloud's RHEL shape): the default kernel's
initramfs is gone, so nothing activates the volume group before the kernel needs its root."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rescuetui.lab.scenario import Scenario
from rescuetui.lab.xfslvm import default_kernel, mounted_boot


def break_image(image: Path) -> str:
    # /boot is plain ext4 on partition 1: reached through a loop device, no LVM needed.
    with tempfile.TemporaryDirectory(dir="/run", prefix="rescuetui-break-") as where, \
            mounted_boot(image, Path(where)) as boot:
        kernel = default_kernel(boot)
        (boot / f"initrd.img-{kernel}").unlink()
    return f"deleted /boot/initrd.img-{kernel}"


SCENARIO = Scenario(
    name="xfs-lvm-initramfs-deleted",
    title="XFS root on LVM: the dracut-built initramfs of the default kernel was deleted",
    symptom="The VM does not boot. The serial console ends in a kernel panic: "
    "VFS: Unable to mount root fs on unknown-block(0,0).",
    expected_outcome="panic",
    expected_class="vfs-root",
    expected_fix="initramfs-rebuild",
    hints=(
        "root=/dev/mapper/rootvg-rootlv: a logical volume. Only the initramfs can activate a "
        "volume group (lvm vgchange -ay, from rd.lvm.lv=); without one the kernel has no such "
        "device.",
        "The root volume must be active on the rescue host to reach /etc and /usr: vgchange -ay "
        "rootvg, mount /dev/rootvg/rootlv, /boot (partition 1) below it.",
        "Rebuild it for that exact kernel, generic (the lvm and xfs modules included): "
        "dracut --force --no-hostonly IMAGE VERSION.",
    ),
    break_image=break_image,
    base="xfslvm",
)
