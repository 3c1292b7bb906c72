"""Target detection and the mount stack on real images: fstab trees, twins, hostile names.

The systems here are small: real partition tables, filesystems, os-release and fstab, but no
binaries (the chroot tests use the Debian image in test_debian_target.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from rescuetui.core.errors import RescueError
from rescuetui.core.mountinfo import current_mounts, mounts_below
from rescuetui.core.session import RescueSession
from rescuetui.lab.disk import BuiltDisk, Part, fstab_for

pytestmark = pytest.mark.root

OS_RELEASE = b'PRETTY_NAME="Test Linux 1"\nID=debian\nVERSION_ID="12"\n'
API_DIRS = ("/proc", "/sys", "/dev", "/run", "/boot", "/var", "/srv", "/opt", "/data",
            "/data2", "/tmp", "/var/data", "/srv/source", "/boot/efi")
KERNEL = "6.1.0-99-test"


def _system(make_disk: Callable[..., BuiltDisk], fstab: Callable[[list[Part]], str],
            parts: list[Part], **kwargs: object) -> BuiltDisk:
    files = {
        "/etc/os-release": OS_RELEASE,
        f"/boot/vmlinuz-{KERNEL}": b"kernel image",
        f"/lib/modules/{KERNEL}/modules.dep": b"",
    }
    return make_disk(parts, files=files, fstab=fstab(parts), dirs=API_DIRS, **kwargs)


def _tree_by_mountpoint(session: RescueSession) -> dict[str, tuple[str, str]]:
    return {o.entry.entry.mountpoint: (o.status, o.message) for o in session.tree}


def test_fstab_tree_every_spec_form(make_disk: Callable[..., BuiltDisk], journal_dir: Path) -> None:
    parts = [
        Part(40, "vfat", "/boot/efi", label="EFI", ptype="esp"),
        Part(60, "ext4", "/boot", label="boot"),
        Part(60, "ext4", "/var", label="var data"),
        Part(60, "ext4", "/srv"),
        Part(60, "ext4", "/opt"),
        Part(None, "ext4", "/", label="root"),
    ]

    def fstab(p: list[Part]) -> str:
        return "\n".join([
            f"UUID={p[5].uuid} / ext4 errors=remount-ro 0 1",
            f"UUID={p[1].uuid} /boot ext4 defaults 0 2",
            f"UUID={p[0].fstab_uuid} /boot/efi vfat umask=0077 0 1",
            "LABEL=var\\040data /var ext4 defaults 0 2",
            f"PARTUUID={p[3].partuuid} /srv ext4 defaults 0 2",
            "/dev/sda5 /opt ext4 defaults 0 2",
            "UUID=00000000-dead-beef-0000-000000000000 /data ext4 defaults,nofail 0 2",
            "LABEL=gone /data2 ext4 defaults 0 2",
            "UUID=11111111-2222-3333-4444-555555555555 none swap sw 0 0",
            "server:/export /mnt nfs defaults 0 0",
            "tmpfs /tmp tmpfs defaults 0 0",
            "/srv/source /var/data none bind 0 0",
        ]) + "\n"

    disk = _system(make_disk, fstab, parts)
    with RescueSession(journal_base=journal_dir) as session:
        target = session.open_target(str(disk.image))
        resolved = {r.entry.mountpoint: r for r in target.fstab}
        assert resolved["/"].device == target.device
        assert resolved["/boot"].status == "resolved"
        assert resolved["/var"].status == "resolved"  # LABEL with \040 for the space
        assert resolved["/srv"].status == "resolved"  # PARTUUID
        assert resolved["/opt"].status == "resolved" and "partition number 5" in resolved["/opt"].note
        assert resolved["/data"].status == "missing" and resolved["/data"].entry.nofail
        assert resolved["/data2"].status == "missing"
        assert resolved["none"].entry.kind == "swap"  # recognised; its device is not here
        assert resolved["none"].status == "missing"
        assert resolved["/mnt"].entry.kind == "network" and resolved["/mnt"].status == "skipped"
        assert resolved["/tmp"].status == "skipped"
        tree = _tree_by_mountpoint(session)
        for mp in ("/boot", "/var", "/srv", "/opt", "/var/data"):
            assert tree[mp][0] == "mounted", (mp, tree[mp])
        assert tree["/data"][0] == "skipped" and "nofail" in tree["/data"][1]
        assert tree["/data2"][0] == "missing" and "line 8" in tree["/data2"][1]
        # The ESP is never mounted on the host (mtools reads it); the chroot's /boot/efi is
        # an empty read-only placeholder, so nothing lands on the root filesystem there.
        assert tree["/boot/efi"][0] == "esp" and "mtools" in tree["/boot/efi"][1]
        with pytest.raises(OSError):
            (session.root / "boot/efi/x").write_text("x")
        root = session.root
        assert (root / f"boot/vmlinuz-{KERNEL}").is_file()
        assert target.kernels[0].version == KERNEL and target.kernels[0].initramfs_size is None
        assert target.boot_mode == "uefi" and target.esp == f"{target.disk}p1"
        mounted = {m.mountpoint: m for m in mounts_below(root)}
        # Nothing of the host is mounted into the target: commands inside get their own
        # /dev, /proc, /sys and /run from their sandbox (tests/test_sandbox.py).
        for api in ("proc", "sys", "dev", "dev/pts", "run"):
            assert str(root / api) not in mounted, api
        assert session.runner.sandbox is not None
        assert target.disk in session.runner.sandbox.devices
        assert "ro" in mounted[str(root)].options.split(",")
        for where in (root, root / "boot", root / "var", root / "srv"):
            assert {"nosuid", "nodev"} <= set(mounted[str(where)].options.split(",")), where
        with pytest.raises(OSError):
            (root / "etc/new").write_text("x")
        session.make_writable()
        (root / "etc/new").write_text("x")
        # Made writable (mount(2)'s remount sets the flags anew): still nosuid and nodev.
        mounted = {m.mountpoint: m for m in mounts_below(root)}
        for where in (root, root / "boot", root / "var"):
            options = set(mounted[str(where)].options.split(","))
            assert {"rw", "nosuid", "nodev"} <= options, (where, options)
    assert not [m for m in current_mounts() if str(session.state.directory) in m.mountpoint]
    assert not session.state.directory.exists()


def test_a_look_mounts_nothing_that_can_run(make_disk: Callable[..., BuiltDisk],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`scan` mounts each system and its fstab tree to describe it, and runs nothing from it:
    those mounts are read-only, nosuid, nodev and noexec, seen in /proc/self/mountinfo at the
    moment the system is read (a spy on describe_target, the real one still does the work)."""
    import rescuetui.core.session as session_module

    parts = [Part(60, "ext4", "/boot"), Part(60, "ext4", "/var"), Part(None, "ext4", "/")]
    disk = _system(make_disk, fstab_for, parts)
    seen: dict[str, set[str]] = {}
    describe = session_module.describe_target

    def spy(where: Path, *args: object) -> object:
        seen.update({m.mountpoint: set(m.options.split(",")) for m in mounts_below(where)})
        return describe(where, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(session_module, "describe_target", spy)
    with RescueSession(record=False) as session:
        described = [session.inspect(c) for c in session.find(str(disk.image))]
    assert len(described) == 1
    assert len(seen) == 3, seen
    for where, options in seen.items():
        assert {"ro", "nosuid", "nodev", "noexec"} <= options, (where, options)


def test_hostile_names_are_mounted_verbatim(
    make_disk: Callable[..., BuiltDisk], journal_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    hostile_dir = f"/mnt/$(touch {marker}) ;rm -rf x"
    parts = [Part(60, "ext4", None, label="$(reboot)"), Part(None, "ext4", "/")]

    def fstab(p: list[Part]) -> str:
        escaped = hostile_dir.replace(" ", "\\040")
        return (f"UUID={p[1].uuid} / ext4 defaults 0 1\n"
                f"LABEL=$(reboot) {escaped} ext4 defaults 0 2\n")

    disk = make_disk(parts, files={"/etc/os-release": OS_RELEASE}, fstab=fstab(parts),
                     dirs=(*API_DIRS, hostile_dir))
    with RescueSession(journal_base=journal_dir) as session:
        session.open_target(str(disk.image))
        tree = _tree_by_mountpoint(session)
        assert tree[hostile_dir][0] == "mounted"
        mounted = [m.mountpoint for m in mounts_below(session.root)]
        assert str(session.root) + hostile_dir in mounted
    assert not marker.exists()


def test_twin_disks_with_the_same_xfs_uuid(
    make_disk: Callable[..., BuiltDisk], journal_dir: Path, tmp_path: Path
) -> None:
    """A repair VM made from the same image: every UUID exists twice. The chosen disk's own
    partitions win, and the second XFS root mounts with nouuid."""
    parts = [Part(60, "ext4", "/boot"), Part(None, "xfs", "/")]

    def fstab(p: list[Part]) -> str:
        return f"UUID={p[1].uuid} / xfs defaults 0 1\nUUID={p[0].uuid} /boot ext4 defaults 0 2\n"

    first = _system(make_disk, fstab, parts)
    twin = tmp_path / "twin.img"
    os.system(f"cp --sparse=always {first.image} {twin}")  # noqa: S605 - test paths only
    with RescueSession(journal_base=journal_dir) as one:
        one.open_target(str(first.image), api=False)
        with RescueSession(journal_base=journal_dir) as two:
            target = two.open_target(str(twin), api=False)
            assert target.disk != one.target.disk  # type: ignore[union-attr]
            boot = next(r for r in target.fstab if r.entry.mountpoint == "/boot")
            assert boot.device is not None and boot.device.startswith(target.disk)
            root_mount = next(m for m in mounts_below(two.root) if m.mountpoint == str(two.root))
            assert root_mount.fstype == "xfs"
            assert any("nouuid" in r.options for r in two.stack.records if r.kind == "root")
            # Without --disk, both systems are candidates and the operator must choose.
            with RescueSession(journal_base=journal_dir) as three:
                with pytest.raises(RescueError, match="Several installed systems.*--root"):
                    three.open_target(None)


def test_disk_without_a_system_says_what_to_do(
    make_disk: Callable[..., BuiltDisk], journal_dir: Path
) -> None:
    disk = make_disk([Part(None, "ext4", "/", label="data")], files={"/README": b"just data"})
    with RescueSession(journal_base=journal_dir) as session:
        with pytest.raises(RescueError, match="No installed Linux system found"):
            session.open_target(str(disk.image))


def test_garbage_fstab_is_reported_not_fatal(
    make_disk: Callable[..., BuiltDisk], journal_dir: Path
) -> None:
    garbage = b"\x00\xff\xfe garbage\nUUID=\n/ / / / / / / /\n\x1b[2J\n"
    disk = make_disk([Part(None, "ext4", "/")], files={"/etc/os-release": OS_RELEASE},
                     fstab=garbage.decode("latin-1"), dirs=API_DIRS)
    with RescueSession(journal_base=journal_dir) as session:
        target = session.open_target(str(disk.image))
        assert target.fstab_problems
        assert any("no entry for /" in n for n in target.notes)
        assert all("\x1b" not in p.message for p in target.fstab_problems)


def test_scan_inspect_leaves_nothing_mounted(
    make_disk: Callable[..., BuiltDisk]
) -> None:
    parts = [Part(60, "ext4", "/boot"), Part(None, "ext4", "/")]

    def fstab(p: list[Part]) -> str:
        return f"UUID={p[1].uuid} / ext4 defaults 0 1\nUUID={p[0].uuid} /boot ext4 defaults 0 2\n"

    disk = _system(make_disk, fstab, parts, table="msdos")
    with RescueSession(record=False) as session:
        (candidate,) = session.find(str(disk.image))
        target, tree = session.inspect(candidate)
        assert [k.version for k in target.kernels] == [KERNEL]
        assert target.boot_mode == "bios" and target.family == "debian"
        assert [m for m in mounts_below(session.state.directory)] == []
        assert session.stack.records == []


def test_an_fstab_naming_another_attached_disk_never_mounts_it(
    make_disk: Callable[..., BuiltDisk], journal_dir: Path, tmp_path: Path
) -> None:
    """The target's fstab names, by LABEL and by UUID, filesystems on another disk attached to
    the host (a disk it wants mounted into its chroot, made writable, fsck'ed). Neither is
    mounted or touched: both entries are reported as on another disk, not as missing, and the
    fstab check says it could not judge them."""
    import subprocess

    from rescuetui.checks.base import TargetContext
    from rescuetui.checks.fstab import check_fstab

    other = make_disk([Part(None, "ext4", "/", label="victim")], files={"/precious": b"data"})
    (victim,) = other.parts

    def fstab(p: list[Part]) -> str:
        return (f"UUID={p[0].uuid} / ext4 defaults 0 1\n"
                "LABEL=victim /srv ext4 defaults 0 2\n"
                f"UUID={victim.uuid} /opt ext4 defaults 0 2\n")

    disk = _system(make_disk, fstab, [Part(None, "ext4", "/")])
    loop = subprocess.run(["losetup", "--find", "--show", "--partscan", str(other.image)],
                          capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run(["partx", "-u", loop], check=True)  # the partitions' nodes (no udev)
        with RescueSession(journal_base=journal_dir) as session:
            target = session.open_target(str(disk.image))
            resolved = {r.entry.mountpoint: r for r in target.fstab}
            for mountpoint in ("/srv", "/opt"):
                assert resolved[mountpoint].status == "elsewhere", resolved[mountpoint]
                assert f"{loop}p1" in resolved[mountpoint].note
            tree = _tree_by_mountpoint(session)
            assert tree["/srv"][0] == "skipped" and "another disk" in tree["/srv"][1]
            assert not [m for m in current_mounts() if m.source.startswith(loop)]
            finding = check_fstab(TargetContext(session.root, target, session.runner, KERNEL))
            assert finding.ok and "line 2 (/srv) was not checked" in finding.summary, finding
            assert finding.data["not_checked"] == [2, 3]
    finally:
        subprocess.run(["losetup", "-d", loop], check=True)
