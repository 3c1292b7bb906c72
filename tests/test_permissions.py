"""Modes and owners: the rules (setuid sudo, private sshd host keys, sticky /tmp) on fixture
trees, the comparison with the package archives on a real Debian 12 tree, and the RPM
--setugids/--setperms plan (rpm cannot run on this Debian host: its output is a fixture, the
argv lists are checked exactly)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import fixture_context, rescuetui

from rescuetui.checks.base import TargetContext
from rescuetui.checks.permissions import check_permissions
from rescuetui.core.journal import Journal
from rescuetui.core.runner import CommandRunner
from rescuetui.core.session import RescueSession
from rescuetui.fixes.base import apply_plan
from rescuetui.fixes.permissions import plan_permissions_restore
from rescuetui.lab.disk import BuiltDisk


def _tree(root: Path, os_release: str) -> TargetContext:
    for d in ("etc/ssh", "usr/bin", "tmp", "var/tmp", "boot", "lib/modules/6.1.0-1-amd64"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "var/tmp", 0o1777)
    (root / "etc/os-release").write_text(os_release)
    (root / "boot/vmlinuz-6.1.0-1-amd64").write_bytes(b"k")
    return fixture_context(root, os_release, fstype="ext4", kernel="6.1.0-1-amd64")


def test_sudo_without_setuid_and_readable_host_keys_are_found_and_fixed(tmp_path: Path) -> None:
    ctx = _tree(tmp_path / "t", "ID=arch\n")
    root = ctx.root
    sudo = root / "usr/bin/sudo"
    sudo.write_bytes(b"\x7fELF")
    os.chmod(sudo, 0o755)
    for name, mode in (("ssh_host_ed25519_key", 0o644), ("ssh_host_rsa_key", 0o600)):
        (root / "etc/ssh" / name).write_bytes(b"key")
        os.chmod(root / "etc/ssh" / name, mode)
    (root / "etc/ssh/ssh_host_ed25519_key.pub").write_bytes(b"pub")
    finding = check_permissions(ctx)
    assert not finding.ok
    assert {f["path"]: f["expected"] for f in finding.data["files"]} == {
        "/usr/bin/sudo": "4755", "/etc/ssh/ssh_host_ed25519_key": "0600"}
    plan = plan_permissions_restore(ctx, finding)
    assert [(e.path, e.mode, e.uid) for e in plan.edits] == [
        ("/usr/bin/sudo", 0o4755, 0), ("/etc/ssh/ssh_host_ed25519_key", 0o600, 0)]
    journal = Journal.create(tmp_path / "j")
    assert apply_plan(plan, root, CommandRunner(), journal).ok
    assert sudo.stat().st_mode & 0o7777 == 0o4755
    assert check_permissions(ctx).ok


def test_rpm_plan_resets_owners_before_modes(tmp_path: Path) -> None:
    ctx = _tree(tmp_path / "t", 'ID="rocky"\nID_LIKE="rhel centos fedora"\n')
    from rescuetui.checks.base import Finding

    finding = Finding("permissions", False, "wrong", "x",
                      data={"files": [], "rpm_packages": ["sudo", "openssh-server"]})
    plan = plan_permissions_restore(ctx, finding)
    assert [s.argv for s in plan.steps] == [
        ["rpm", "--setugids", "sudo", "openssh-server"],
        ["rpm", "--setperms", "sudo", "openssh-server"]]
    assert all(s.in_chroot for s in plan.steps)


@pytest.mark.root
def test_modes_of_essential_packages_come_from_their_archives(
        debian_image: BuiltDisk, journal_dir: Path) -> None:
    """On the real Debian tree: a clean system has no differences (no false alarm over 4000+
    files); a program of an essential package that lost its mode, su without setuid, and /tmp
    without its sticky bit are found and set back to what the packages ship."""
    with RescueSession(journal_base=journal_dir) as session:
        session.open_target(str(debian_image.image), api=False)
        assert session.target is not None
        ctx = TargetContext(session.root, session.target, session.runner, "")
        clean = check_permissions(ctx)
        assert clean.ok, clean.evidence
        session.make_writable()
        os.chmod(session.root / "usr/bin/dpkg", 0o700)
        os.chown(session.root / "usr/bin/su", 1000, 1000)
        os.chmod(session.root / "tmp", 0o755)
        finding = check_permissions(ctx)
        assert not finding.ok
        wrong = {f["path"]: f["expected"] for f in finding.data["files"]}
        assert wrong == {"/usr/bin/dpkg": "0755", "/usr/bin/su": "4755", "/tmp": "1777"}, wrong
        plan = plan_permissions_restore(ctx, finding)
        assert apply_plan(plan, session.root, session.runner, session.journal).ok
        assert check_permissions(ctx).ok
        su = (session.root / "usr/bin/su").stat()
        assert (su.st_mode & 0o7777, su.st_uid, su.st_gid) == (0o4755, 0, 0)
    session_dir = next(journal_dir.iterdir())
    out = rescuetui("undo", "--disk", str(debian_image.image), "--session", str(session_dir),
                    "--journal", str(journal_dir.parent / "undo"))
    assert out.returncode == 0, out.stderr
    with RescueSession(journal_base=journal_dir) as session:
        session.open_target(str(debian_image.image), api=False)
        assert (session.root / "tmp").stat().st_mode & 0o7777 == 0o755
        assert (session.root / "usr/bin/su").stat().st_uid == 1000
