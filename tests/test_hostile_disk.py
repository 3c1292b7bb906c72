"""Disks built to be hostile, on real parts: a disk is data. Links out of the target, FIFOs and
device nodes where files are expected, names with non-ASCII digits and control characters.
`scan`, `diagnose` and opening the target must neither read a host file through them, nor hang,
nor crash, nor put a raw control character on the terminal, nor leave a mount behind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import rescuetui

from rescuetui.lab.disk import BuiltDisk, Part

pytestmark = pytest.mark.root

KERNEL = "6.1.0-99-test"
ESC = "\x1b]0;pwned\x07\x1b[2J"
OS_RELEASE = f'PRETTY_NAME="Evil{ESC} Linux"\nID=debian\nVERSION_ID="12"\n'.encode()
# A file of the rescue host that a link on the disk points at, absolute and relative.
HOST_SECRET = Path("/var/tmp/rescuetui-host-secret")
SECRET = "HOST-SECRET-7f3a"


@contextmanager
def _root_of(image: Path, where: Path, index: int = -1) -> Iterator[Path]:
    """A filesystem of the image (by default its last partition, the root) mounted
    read-write, for planting."""
    loop = subprocess.run(["losetup", "--find", "--show", "--partscan", str(image)],
                          capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run(["partx", "-u", loop], check=True)
        parts = sorted(p for p in os.listdir("/dev") if p.startswith(loop[5:] + "p"))
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", f"/dev/{parts[index]}", str(where)], check=True)
        try:
            yield where
        finally:
            subprocess.run(["umount", str(where)], check=True)
    finally:
        subprocess.run(["losetup", "-d", loop], check=True)


def _hostile_system(make_disk: Callable[..., BuiltDisk], tmp_path: Path) -> BuiltDisk:
    disk = make_disk([Part(60, "ext4", "/boot"), Part(None, "ext4", "/")], table="msdos",
                     files={"/etc/os-release": OS_RELEASE,
                            f"/boot/vmlinuz-{KERNEL}": b"kernel image",
                            f"/lib/modules/{KERNEL}/modules.dep": b""},
                     dirs=("/proc", "/sys", "/dev", "/run", "/boot", "/var/log", "/var/crash"))
    # Shown if ever read: the diagnosis quotes a panic line as its evidence.
    HOST_SECRET.write_text("Kernel panic - not syncing: VFS: Unable to mount root fs on "
                           f"unknown-block(0,0) {SECRET}\n")
    with _root_of(disk.image, tmp_path / "plant") as root:
        modules = root / "lib/modules"
        # Versions with digits that are not ASCII (Arabic-Indic three, superscript two).
        for odd in ("6.\u0663.0-1-evil", "6.\u00b2.0-1-evil", "6.1.0-1-evil\nsecond-line"):
            (modules / odd).mkdir()
        # pkgbase through links to the host's files, and as a FIFO.
        (modules / "6.1.0-2-link").mkdir()
        (modules / "6.1.0-2-link/pkgbase").symlink_to(HOST_SECRET)
        (modules / "6.1.0-3-rel").mkdir()
        (modules / "6.1.0-3-rel/pkgbase").symlink_to("../../../../../../.." + str(HOST_SECRET))
        (modules / "6.1.0-4-fifo").mkdir()
        os.mkfifo(modules / "6.1.0-4-fifo/pkgbase")
        (modules / "6.1.0-5-dirlink").symlink_to("/usr/lib/modules-elsewhere")
        # Logs: a FIFO, a link to a FIFO, links to the host's files, a device node.
        log = root / "var/log"
        os.mkfifo(log / "kern.log")
        os.mkfifo(root / "run/fifo")
        (log / "syslog").symlink_to("/run/fifo")
        (log / "messages").symlink_to(HOST_SECRET)
        os.mknod(log / "dmesg", 0o600 | 0o020000, os.makedev(1, 3))  # char /dev/null
        (log / f"boot.log{ESC}").write_text(f"Kernel panic - not syncing: {ESC}\n")
        (root / "var/crash/1").mkdir()
        (root / "var/crash/1/dmesg.1").symlink_to(HOST_SECRET)
    with _root_of(disk.image, tmp_path / "plant-boot", 0) as boot:
        # The boot loader's files: grub.cfg a FIFO, grubenv a link to it, a BLS entry that is
        # a 4 GiB sparse file, a link loop for GRUB's second directory.
        (boot / "grub").mkdir()
        os.mkfifo(boot / "grub/grub.cfg")
        (boot / "grub/grubenv").symlink_to("grub.cfg")
        (boot / "grub2").symlink_to("grub2-loop")
        (boot / "grub2-loop").symlink_to("grub2")
        (boot / "loader/entries").mkdir(parents=True)
        with open(boot / "loader/entries/huge.conf", "wb") as huge:
            huge.truncate(4 << 30)
    return disk


@pytest.mark.parametrize("command", [["scan"], ["diagnose"]])
def test_hostile_disk_is_read_as_data(make_disk: Callable[..., BuiltDisk], tmp_path: Path,
                                      command: list[str]) -> None:
    disk = _hostile_system(make_disk, tmp_path)
    try:
        out = rescuetui(*command, "--disk", str(disk.image), timeout=120)
    finally:
        HOST_SECRET.unlink(missing_ok=True)
    said = out.stdout + out.stderr
    assert b"Traceback" not in said, said.decode(errors="replace")[-3000:]
    assert SECRET.encode() not in said
    assert b"\x1b" not in said and b"\x07" not in said, said
    assert out.returncode in (0, 1), said.decode(errors="replace")[-3000:]


def test_diagnose_reads_no_log_through_a_link_out_of_the_disk(
        make_disk: Callable[..., BuiltDisk], tmp_path: Path) -> None:
    """The logs that are links to the host's files, FIFOs or device nodes are not sources; the
    one regular file is (its name escaped in the JSON as everywhere)."""
    import json

    disk = _hostile_system(make_disk, tmp_path)
    try:
        out = rescuetui("diagnose", "--disk", str(disk.image), "--json", timeout=120)
    finally:
        HOST_SECRET.unlink(missing_ok=True)
    assert SECRET.encode() not in out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert [s["source"] for s in report["sources"]] == [
        "/var/log/boot.log\\x1b]0;pwned\\x07\\x1b[2J"], report["sources"]


def test_numbers_from_a_disk_are_ascii_digits_or_nothing() -> None:
    """GRUB's saved_entry, version parts: "²".isdigit() is true and int("²") raises; "٣" is
    read as 3. Neither is a number here."""
    from rescuetui.checks.default_kernel import resolve
    from rescuetui.core.target import _version_key
    from rescuetui.core.text import ascii_number

    assert [ascii_number(t) for t in ("12", "\u00b2", "\u0663", "", "-1", "1 ")] == [
        12, None, None, None, None, None]
    assert resolve("\u00b2", []) is None and resolve("\u0663", []) is None
    assert _version_key("6.\u00b2.0") == [(6, ""), (-1, "\u00b2"), (0, "")]


# -- writes, the journal's copy and mount points (issue 13: one confined way to the files) -----

HOST_ETC = Path("/var/tmp/rescuetui-host-etc")  # a directory of the host's that a link names
HOST_LOG = Path("/var/tmp/rescuetui-host-log")
HOST_BOOT = Path("/var/tmp/rescuetui-host-boot")
SENTINEL = b"the host's own file\n"


def _plain_system(make_disk: Callable[..., BuiltDisk]) -> BuiltDisk:
    return make_disk([Part(60, "ext4", "/boot"), Part(None, "ext4", "/")], table="msdos",
                     files={"/etc/os-release": b'ID=debian\nVERSION_ID="12"\n',
                            f"/boot/vmlinuz-{KERNEL}": b"kernel image"},
                     dirs=("/var/log", "/var/tmp"))


@contextmanager
def _host_dir(path: Path) -> Iterator[Path]:
    """A directory of the host's with one file (mode 0600) that must stay as it is."""
    path.mkdir(exist_ok=True)
    for name in ("fstab", "sentinel"):
        (path / name).write_bytes(SENTINEL)
        os.chmod(path / name, 0o600)
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", str(path)], check=True)


def _host_dir_untouched(path: Path) -> None:
    assert sorted(os.listdir(path)) == ["fstab", "sentinel"], os.listdir(path)
    for name in ("fstab", "sentinel"):
        assert (path / name).read_bytes() == SENTINEL
        assert (path / name).stat().st_mode & 0o7777 == 0o600


@pytest.mark.parametrize("planted", ["temporary-names", "etc-link"])
def test_an_fstab_edit_writes_no_host_file(make_disk: Callable[..., BuiltDisk], tmp_path: Path,
                                           journal_dir: Path, planted: str) -> None:
    """A fix's edit of /etc/fstab (apply_plan, as every fix): links planted as the temporary
    file's names (the old `.fstab.rescuetui-SEQ`, and the new name's prefix) pointing at a
    host file, or /etc itself a link to a host directory (the target holds the same path, so
    it still has a system): the edit lands in the target, no host file is written, no host
    mode changes."""
    from rescuetui.core.confined import ConfinedRoot
    from rescuetui.core.session import RescueSession
    from rescuetui.fixes.base import FileEdit, FixPlan, apply_plan

    disk = _plain_system(make_disk)
    with _host_dir(HOST_ETC) as host:
        with _root_of(disk.image, tmp_path / "plant") as root:
            if planted == "etc-link":
                inside = root / str(HOST_ETC).lstrip("/")
                inside.parent.mkdir(parents=True, exist_ok=True)
                (root / "etc").rename(inside)
                (root / "etc").symlink_to(str(HOST_ETC))
            etc = root / str(HOST_ETC).lstrip("/") if planted == "etc-link" else root / "etc"
            for seq in range(1, 50):
                (etc / f".fstab.rescuetui-{seq}").symlink_to(str(host / "fstab"))
            (etc / ".fstab.rescuetui-").symlink_to(str(host / "fstab"))
        session = RescueSession(journal_base=journal_dir)
        try:
            session.open_target(str(disk.image), api=False)
            session.make_writable()
            plan = FixPlan("test", why="test", risk="none", undo="undo")
            plan.edits.append(FileEdit("/etc/fstab", "test edit", content=b"# edited\n"))
            applied = apply_plan(plan, session.root, session.runner, session.journal)
            assert applied.ok, applied.message
            assert ConfinedRoot(session.root).read("/etc/fstab") == b"# edited\n"
        finally:
            assert session.close() == []
        _host_dir_untouched(host)


@pytest.mark.parametrize("where", ["journal-directory", "host-directory"])
def test_the_journal_copy_follows_no_link_out(make_disk: Callable[..., BuiltDisk],
                                              tmp_path: Path, where: str) -> None:
    """/var/log a link to the directory the live journal sits in (so that the old copy's
    /var/log/rescuetui/SESSION was the live journal itself, deleted before the copy), or to a
    host directory: the live journal stays whole, nothing is written on the host, the run ends
    with nothing mounted."""
    from rescuetui.core.journal import Journal
    from rescuetui.core.mountinfo import current_mounts
    from rescuetui.core.session import RescueSession

    logs = tmp_path / "logs"
    base = logs / "rescuetui"
    base.mkdir(parents=True)
    disk = _plain_system(make_disk)
    with _host_dir(HOST_LOG) as host:
        with _root_of(disk.image, tmp_path / "plant") as root:
            subprocess.run(["rm", "-rf", str(root / "var/log")], check=True)
            if where == "journal-directory":
                (root / "var/log").symlink_to(str(logs))
            else:  # the target holds the same path: the copy lands there, in the target
                (root / str(HOST_LOG).lstrip("/")).mkdir(parents=True)
                (root / "var/log").symlink_to(str(HOST_LOG))
        session = RescueSession(journal_base=base)
        assert session.journal is not None
        journal = session.journal.directory
        state = session.state.directory
        try:
            session.open_target(str(disk.image), api=False)
            session.make_writable()
            session.journal.decision("test", "yes")
        finally:
            problems = session.close()
        assert (journal / "journal.jsonl").is_file()
        kinds = [r["kind"] for r in Journal.open(journal).records()]
        assert kinds[0] == "session-start" and kinds[-1] == "session-end" and "decision" in kinds
        assert sorted(os.listdir(base)) == [journal.name]
        assert sorted(os.listdir(journal)) == ["backups", "journal.jsonl", "output"]
        _host_dir_untouched(host)
        assert not [m for m in current_mounts() if m.mountpoint.startswith(str(state))]
        if where == "host-directory":
            assert problems == []
            with _root_of(disk.image, tmp_path / "look") as root:
                copied = root / str(HOST_LOG).lstrip("/") / "rescuetui" / journal.name
                assert (copied / "journal.jsonl").is_file()
        else:  # /var/log leads nowhere inside the target: not copied, and said so
            assert problems == ["The journal could not be copied into the target."]
            assert any(r["kind"] == "note" and "not copied" in r["text"]
                       for r in Journal.open(journal).records())
            subprocess.run(["rm", "-rf", str(state)], check=True)


def test_a_mount_point_planted_as_a_link_mounts_nothing_on_the_host(
        make_disk: Callable[..., BuiltDisk], tmp_path: Path, journal_dir: Path) -> None:
    """/boot (fstab's mount point of the boot partition) a link to a host directory: the
    mount point is resolved inside the target and the mount made onto its descriptor, so the
    host directory gets no mount; the target's own directory of that path gets it."""
    from rescuetui.core.confined import ConfinedRoot
    from rescuetui.core.mountinfo import current_mounts
    from rescuetui.core.session import RescueSession

    disk = _plain_system(make_disk)
    with _host_dir(HOST_BOOT) as host:
        with _root_of(disk.image, tmp_path / "plant") as root:
            (root / "boot").rmdir()
            (root / str(HOST_BOOT).lstrip("/")).mkdir(parents=True)
            (root / "boot").symlink_to(str(HOST_BOOT))
        session = RescueSession(journal_base=journal_dir)
        try:
            session.open_target(str(disk.image), api=False)
            mounted = {m.mountpoint for m in current_mounts()}
            assert str(host) not in mounted
            inside = str(session.root / str(HOST_BOOT).lstrip("/"))
            assert inside in mounted, sorted(m for m in mounted if "rescuetui" in m)
            assert ConfinedRoot(session.root).is_file(f"/boot/vmlinuz-{KERNEL}")
        finally:
            assert session.close() == []
        _host_dir_untouched(host)
        assert str(host) not in {m.mountpoint for m in current_mounts()}


JOURNAL_REMOTE = Path("/lib/systemd/systemd-journal-remote")


def _journal_file(path: Path, message: str, boot: str) -> None:
    """A real systemd journal file holding one kernel message (systemd-journal-remote writes
    it from the export format)."""
    export = "".join(f"{k}={v}\n" for k, v in (
        ("__CURSOR", "s=0;i=1"), ("__REALTIME_TIMESTAMP", 1700000000000000),
        ("__MONOTONIC_TIMESTAMP", 1000), ("_BOOT_ID", boot), ("_TRANSPORT", "kernel"),
        ("MESSAGE", message))) + "\n"
    subprocess.run([str(JOURNAL_REMOTE), "-o", str(path), "-"], input=export.encode(),
                   check=True, capture_output=True)


def test_journal_files_that_are_links_are_neither_followed_nor_block(tmp_path: Path) -> None:
    """/var/log/journal holding a real journal file, a link to a journal file of the host's
    (with a secret) and a link to a FIFO: journalctl is handed the regular file only, by its
    descriptor; the host's file is not read and nothing waits on the FIFO."""
    import shutil

    from rescuetui.diagnose.target_logs import target_evidence

    if not JOURNAL_REMOTE.exists() or shutil.which("journalctl") is None:
        pytest.skip("systemd-journal-remote or journalctl missing (run `make setup`)")
    root = tmp_path / "target"
    machine = root / "var/log/journal/0123456789abcdef0123456789abcdef"
    machine.mkdir(parents=True)
    _journal_file(machine / "system.journal",
                  "Kernel panic - not syncing: VFS: Unable to mount root fs", "1" * 32)
    host_journal = tmp_path / "host.journal"
    _journal_file(host_journal, f"Kernel panic - not syncing: {SECRET}", "2" * 32)
    (machine / "host@0001-0002.journal").symlink_to(host_journal)
    os.mkfifo(root / "fifo")
    (machine / "fifo.journal").symlink_to("/fifo")
    (machine / "rel.journal").symlink_to("../../../../../../.." + str(host_journal))
    with target_evidence(root) as evidence:
        exported = [(name, path.read_bytes()) for name, path in evidence.sources]
    assert [name for name, _ in exported] == ["journal (boot 0)"]
    assert b"Unable to mount root fs" in exported[0][1]
    assert SECRET.encode() not in exported[0][1]
