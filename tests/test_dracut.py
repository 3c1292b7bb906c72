"""dracut for real: the dracut practice base (Debian 12 with dracut in place of initramfs-tools,
whose /etc/initramfs-tools is left behind), real lsinitrd listings, a real dracut rebuild in
the chroot, generic and not host-only, with the machine's disk driver from a recorded console."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import REAL_PARTS_MISSING, SERIAL_DIR

from rescuetui.checks import initramfs as initramfs_check
from rescuetui.checks.base import TargetContext
from rescuetui.core.initramfs_builder import installed_builders
from rescuetui.core.session import RescueSession
from rescuetui.diagnose.machine import machine_drivers
from rescuetui.fixes.base import apply_plan
from rescuetui.fixes.initramfs import plan_initramfs_rebuild


@pytest.fixture
def dracut_image(tmp_path: Path) -> Path:
    if REAL_PARTS_MISSING:
        pytest.skip(REAL_PARTS_MISSING)
    from rescuetui.lab.dracut import dracut_base

    copy = tmp_path / "dracut.img"
    subprocess.run(["cp", "--sparse=always", str(dracut_base()), str(copy)], check=True)
    return copy


@pytest.mark.root
@pytest.mark.slow
def test_dracut_is_the_builder_listed_checked_and_rebuilt_generic(
        dracut_image: Path, journal_dir: Path) -> None:
    machine = machine_drivers([("console", SERIAL_DIR / "initramfs-deleted.log")])
    with RescueSession(journal_base=journal_dir) as session:
        target = session.open_target(str(dracut_image))
        root = session.root
        assert (root / "etc/initramfs-tools").is_dir()  # left behind by the removal
        assert [b.name for b in installed_builders(root)] == ["dracut"]
        kernel = target.kernels[0]
        ctx = TargetContext(root, target, session.runner, kernel.version,
                            machine_drivers=machine.drivers, machine_evidence=machine.evidence)
        assert ctx.initramfs_builder is not None and ctx.initramfs_builder.name == "dracut"
        found = initramfs_check.check_initramfs(ctx)
        assert found.ok and "virtio_blk" in found.summary, found

        image = root / kernel.initramfs.lstrip("/")
        whole = image.read_bytes()
        session.make_writable()
        image.write_bytes(whole[: len(whole) * 2 // 3])
        cut = initramfs_check.check_initramfs(ctx)
        assert cut.finding == "truncated", cut

        plan = plan_initramfs_rebuild(ctx, cut)
        build = plan.steps[-1].argv
        assert build == ["dracut", "--force", "--no-hostonly", kernel.initramfs, kernel.version]
        assert apply_plan(plan, root, session.runner, session.journal).ok
        again = initramfs_check.check_initramfs(ctx)
        assert again.ok and "virtio_blk" in again.summary, again
        # Not host-only: the rescue host's view did not decide what went in.
        header = session.runner.run_blocking(
            ["sh", "-c", 'TMPDIR=/run lsinitrd "$0" | head -n 8', kernel.initramfs],
            in_chroot=True)
        assert any(line.startswith("Arguments:") and "--no-hostonly" in line
                   for line in header.tail), header.tail


@pytest.mark.root
@pytest.mark.slow
def test_dracut_hostonly_setting_is_found_and_made_generic(
        dracut_image: Path, journal_dir: Path) -> None:
    with RescueSession(journal_base=journal_dir) as session:
        target = session.open_target(str(dracut_image))
        session.make_writable()
        conf = session.root / "etc/dracut.conf.d/10-hostonly.conf"
        conf.write_text('hostonly="yes"\n')
        ctx = TargetContext(session.root, target, session.runner, target.kernels[0].version)
        found = initramfs_check.check_initramfs(ctx)
        assert found.finding == "host-only", found
        assert 'hostonly="yes" in /etc/dracut.conf.d/10-hostonly.conf' in found.evidence
        plan = plan_initramfs_rebuild(ctx, found)
        assert [e.path for e in plan.edits] == ["/etc/dracut.conf.d/90-rescuetui-generic.conf"]
        assert apply_plan(plan, session.root, session.runner, session.journal).ok
        assert initramfs_check.check_initramfs(ctx).ok


@pytest.mark.root
@pytest.mark.slow
def test_an_lvm_root_needs_the_lvm_tool_in_the_initramfs(
        dracut_image: Path, journal_dir: Path, tmp_path: Path) -> None:
    """The lvm tool is looked for in real listings: the dracut base's own image (lvm2 not
    installed, no lvm in it) and the XFS-on-LVM base's (built with lvm2: dracut's lvm module
    put it there). A root on a partition is not a logical volume; a lacks-lvm finding on a
    system without lvm2 is not "fixed" by a rebuild that could not help."""
    from rescuetui.checks.base import Finding
    from rescuetui.lab.xfslvm import default_kernel, mounted_boot, xfslvm_base

    with mounted_boot(xfslvm_base(), tmp_path / "lvm-boot", read_only=True) as boot:
        with_lvm = (boot / f"initrd.img-{default_kernel(boot)}").read_bytes()
    with RescueSession(journal_base=journal_dir) as session:
        target = session.open_target(str(dracut_image))
        assert initramfs_check.root_logical_volume(target.device) is None  # a loop partition
        kernel = target.kernels[0]
        ctx = TargetContext(session.root, target, session.runner, kernel.version)
        assert ctx.initramfs_builder is not None
        assert not initramfs_check.has_lvm_tool(ctx, kernel.initramfs)
        session.make_writable()
        (session.root / "boot/initrd-with-lvm.img").write_bytes(with_lvm)
        assert initramfs_check.has_lvm_tool(ctx, "/boot/initrd-with-lvm.img")

        finding = Finding("initramfs", False, "lacks-lvm", "no lvm tool",
                          data={"path": kernel.initramfs, "volume": "rootvg-rootlv"})
        plan = plan_initramfs_rebuild(ctx, finding)
        assert "lvm2 is not installed" in plan.blocked and not plan.steps
