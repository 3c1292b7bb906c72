"""remove-old-kernels on a real Debian tree: two older kernel packages of our own (built with
dpkg-deb, installed with the target's dpkg in its sandbox) beside the real one; the plan keeps
the default kernel and the newest two and purges the rest with the target's apt-get. The
packages are tiny (an image file and a module tree): the real kernel's .deb is the only one in
the tree's apt cache, and no network reaches a mirror here."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem, list_kernels
from rescuetui.fixes.base import apply_plan
from rescuetui.fixes.remove_old_kernels import plan_remove_old_kernels
from rescuetui.lab.scenario import build_scenario
from rescuetui.lab.scenarios import SCENARIOS

OLD = ("5.10.0-90-test", "5.10.0-91-test")


def _kernel_deb(directory: Path, version: str) -> Path:
    tree = directory / version
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        f"Package: linux-image-{version}\nVersion: 1\nArchitecture: amd64\n"
        "Maintainer: rescuetui tests <tests@example.org>\n"
        "Description: a test kernel package (an image and a module tree)\n")
    (tree / "boot").mkdir()
    (tree / f"boot/vmlinuz-{version}").write_bytes(b"\0" * 4096)
    (tree / f"lib/modules/{version}").mkdir(parents=True)
    (tree / f"lib/modules/{version}/modules.dep").write_text("")
    deb = directory / f"linux-image-{version}_1_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(deb)],
                   check=True, capture_output=True)
    return deb


def _relisted(session: RescueSession) -> TargetSystem:
    """The target with its kernels read again (the packages installed after it was opened)."""
    assert session.target is not None
    return replace(session.target, kernels=list_kernels(session.root))


def test_old_kernels_are_purged_and_the_default_and_newest_two_stay(tmp_path: Path) -> None:
    image = tmp_path / "kernels.img"
    build_scenario(SCENARIOS["initramfs-deleted"], image, journal_base=tmp_path / "b")
    with RescueSession(journal_base=tmp_path / "j") as session:
        session.open_target(str(image))
        session.make_writable()
        for version in OLD:
            deb = _kernel_deb(tmp_path / "debs", version)
            shutil.copy(deb, session.root / "tmp" / deb.name)
            done = session.runner.run_blocking(["dpkg", "-i", f"/tmp/{deb.name}"],
                                               in_chroot=True)
            assert done.ok, done.tail
        assert session.target is not None
        target = _relisted(session)
        real = session.target.kernels[0].version
        ctx = TargetContext(session.root, target, session.runner, real)
        assert [k.version for k in target.kernels] == [real, *reversed(OLD)]
        plan = plan_remove_old_kernels(ctx, Finding("boot-space", False, "full", "/boot is full."))
        assert not plan.blocked, plan.blocked
        assert plan.steps[0].argv == ["apt-get", "purge", "-y", f"linux-image-{OLD[0]}"]
        assert plan.data["remove"] == [OLD[0]] and set(plan.data["keep"]) == {real, OLD[1]}
        applied = apply_plan(plan, session.root, session.runner, session.journal)
        assert applied.ok, applied.message
        assert not (session.root / f"boot/vmlinuz-{OLD[0]}").exists()
        assert (session.root / f"boot/vmlinuz-{OLD[1]}").exists()
        assert (session.root / f"boot/vmlinuz-{real}").exists()
        status = session.runner.run_blocking(["dpkg-query", "-W", "-f=${Status}",
                                              f"linux-image-{OLD[0]}"], in_chroot=True)
        assert "installed" not in " ".join(status.tail).replace("not-installed", "")
        # With only the kept ones left, nothing more can go: the plan says so.
        ctx.target = _relisted(session)
        again = plan_remove_old_kernels(ctx, Finding("boot-space", False, "full", "full"))
        assert "No kernel can go" in again.blocked
