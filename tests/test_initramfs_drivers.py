"""The initramfs must carry the driver of the disk root is on, not only the filesystem's.

Real Debian tree, real mkinitramfs: the image is rebuilt with MODULES=list (only what
/etc/initramfs-tools/modules names), as a trimmed-down system may have it, so the disk driver
is really missing from it. Which driver the machine needs comes from the evidence, as in a
repair: the recorded console of a real boot of the practice disk (virtio block, PCI 1af4:1001);
the loop device the disk is attached to here says nothing about that machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SERIAL_DIR

from rescuetui.checks import initramfs as initramfs_check
from rescuetui.checks.base import TargetContext
from rescuetui.core.diskdrivers import disk_driver_modules
from rescuetui.core.session import RescueSession
from rescuetui.diagnose.machine import machine_drivers
from rescuetui.fixes.base import apply_plan
from rescuetui.fixes.initramfs import plan_initramfs_rebuild
from rescuetui.lab.disk import BuiltDisk


def test_driver_chain_of_a_real_disk_from_sysfs() -> None:
    disks = [d.name for d in Path("/sys/block").iterdir()
             if (d / "device/driver").exists() and not d.name.startswith(("loop", "zram"))]
    if not disks:
        pytest.skip("this machine has no disk with a driver in sysfs")
    modules = disk_driver_modules(disks[0])
    assert modules and all(m.replace("_", "").isalnum() for m in modules), modules
    assert disk_driver_modules("loop0") == []
    assert disk_driver_modules("no-such-disk") == []


@pytest.mark.root
@pytest.mark.slow
def test_missing_disk_driver_is_found_and_the_rebuild_adds_it(
        debian_image: BuiltDisk, journal_dir: Path) -> None:
    machine = machine_drivers([("console", SERIAL_DIR / "initramfs-deleted.log")])
    with RescueSession(journal_base=journal_dir) as session:
        session.open_target(str(debian_image.image))
        session.make_writable()
        assert session.target is not None
        kernel = session.target.kernels[0].version
        ctx = TargetContext(session.root, session.target, session.runner, kernel,
                            machine_drivers=machine.drivers, machine_evidence=machine.evidence)
        assert initramfs_check.check_initramfs(ctx).ok
        conf = session.root / "etc/initramfs-tools/initramfs.conf"
        conf.write_text(conf.read_text().replace("MODULES=most", "MODULES=list"))
        assert session.runner.run_blocking(["update-initramfs", "-u", "-k", kernel],
                                           in_chroot=True, timeout=600).ok
        finding = initramfs_check.check_initramfs(ctx)
        assert finding.finding == "lacks-driver", finding
        assert "virtio_blk" in finding.data["modules"]
        assert "the disk of the machine it boots on" in finding.summary
        assert any("[1af4:1001]" in e for e in finding.evidence)
        plan = plan_initramfs_rebuild(ctx, finding)
        assert plan.edits[0].path == "/etc/initramfs-tools/modules"
        assert "+virtio_blk" in plan.diff
        assert apply_plan(plan, session.root, session.runner, session.journal).ok
        again = initramfs_check.check_initramfs(ctx)
        assert again.ok, again
