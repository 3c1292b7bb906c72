"""The initramfs must carry the driver of the disk root is on, not only the filesystem's.

Real Debian tree, real mkinitramfs: the image is rebuilt with MODULES=list (only what
/etc/initramfs-tools/modules names), as a trimmed-down system may have it, so the disk driver
is really missing from it. The one fake is at the edge: the practice disk is loop-attached
here and a loop device has no driver chain, so the disk is said to hang off virtio (as it does
on a cloud repair VM); sysfs is read for real in the unit test of the chain itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rescuetui.checks import initramfs as initramfs_check
from rescuetui.checks.base import TargetContext
from rescuetui.core.diskdrivers import disk_driver_modules
from rescuetui.core.session import RescueSession
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
        debian_image: BuiltDisk, journal_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(initramfs_check, "disk_driver_modules", lambda disk: ["virtio_blk"])
    with RescueSession(journal_base=journal_dir) as session:
        session.open_target(str(debian_image.image))
        session.make_writable()
        assert session.target is not None
        kernel = session.target.kernels[0].version
        ctx = TargetContext(session.root, session.target, session.runner, kernel)
        assert initramfs_check.check_initramfs(ctx).ok
        conf = session.root / "etc/initramfs-tools/initramfs.conf"
        conf.write_text(conf.read_text().replace("MODULES=most", "MODULES=list"))
        assert session.runner.run_blocking(["update-initramfs", "-u", "-k", kernel],
                                           in_chroot=True, timeout=600).ok
        finding = initramfs_check.check_initramfs(ctx)
        assert finding.finding == "lacks-driver", finding
        assert "virtio_blk" in finding.data["modules"]
        assert "the disk root is on" in finding.summary
        plan = plan_initramfs_rebuild(ctx, finding)
        assert plan.edits[0].path == "/etc/initramfs-tools/modules"
        assert "+virtio_blk" in plan.diff
        assert apply_plan(plan, session.root, session.runner, session.journal).ok
        again = initramfs_check.check_initramfs(ctx)
        assert again.ok, again
