"""XFS root on LVM: the initramfs was rebuilt without dracut's lvm module (as `dracut --omit
lvm`, or a host-only build on a machine whose root was not on LVM, leaves it), so nothing at
boot activates rootvg and the root device never appears."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from rescuetui.lab.scenario import Scenario
from rescuetui.lab.xfslvm import chroot_tree, default_kernel


def break_image(image: Path) -> str:
    with tempfile.TemporaryDirectory(dir="/run", prefix="rescuetui-break-") as where, \
            chroot_tree(image, Path(where)) as tree:
        kernel = default_kernel(tree / "boot")
        subprocess.run(["chroot", str(tree), "dracut", "--force", "--no-hostonly", "--omit",
                        "lvm", f"/boot/initrd.img-{kernel}", kernel], check=True,
                       capture_output=True)
    return f"/boot/initrd.img-{kernel} rebuilt without dracut's lvm module"


SCENARIO = Scenario(
    name="xfs-lvm-initramfs-no-lvm",
    title="XFS root on LVM: the initramfs has no lvm tool to activate the root volume",
    symptom="The VM does not boot. The console waits for /dev/mapper/rootvg-rootlv, times out "
    "and dracut enters emergency mode.",
    expected_outcome="initramfs-wait",
    expected_class="initramfs-root-missing",
    expected_fix="initramfs-rebuild",
    hints=(
        "The disk is there and the volume group is intact (pvs, lvs see it from a rescue host): "
        "it is the boot that did not activate it. Who does that? The initramfs, with lvm.",
        "lsinitrd /boot/initrd.img-VERSION | grep -E 'sbin/lvm$': nothing. Is lvm2 installed in "
        "the system? Then dracut takes its lvm module in by itself.",
        "Rebuild, generic: dracut --force --no-hostonly IMAGE VERSION; check that the new image "
        "lists sbin/lvm.",
    ),
    break_image=break_image,
    base="xfslvm",
    # dracut waits rd.retry (180 s of its loop) and more before it gives up: minutes under TCG.
    boot_timeout=540.0,
)
