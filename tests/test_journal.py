"""The journal: fsync'd records, backups before every change, exact undo, paths kept in the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rescuetui.core.errors import RescueError
from rescuetui.core.journal import Journal
from rescuetui.core.undo import undo_session


@pytest.fixture
def target_root(tmp_path: Path) -> Path:
    root = tmp_path / "target"
    (root / "etc").mkdir(parents=True)
    (root / "etc/fstab").write_bytes(b"UUID=1 / ext4 defaults 0 1\n\xff binary tail\n")
    os.chmod(root / "etc/fstab", 0o640)
    return root


def test_change_has_backup_and_record(target_root: Path, journal_dir: Path) -> None:
    journal = Journal.create(journal_dir)
    original = (target_root / "etc/fstab").read_bytes()
    record = journal.change_file(target_root, "/etc/fstab", b"new\n", reason="test")
    assert (target_root / "etc/fstab").read_bytes() == b"new\n"
    assert Path(record["backup"]).read_bytes() == original
    assert record["before"]["sha256"] != record["after"]["sha256"]
    assert record["before"]["mode"] == record["after"]["mode"] == "0640"
    on_disk = [r for r in Journal.open(journal.directory).records() if r["kind"] == "file-change"]
    assert on_disk == [record]


def test_undo_restores_exact_bytes_and_mode(target_root: Path, tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "j1")
    original = (target_root / "etc/fstab").read_bytes()
    journal.change_file(target_root, "/etc/fstab", b"first\n", reason="one")
    journal.change_file(target_root, "/etc/fstab", b"second\n", reason="two")
    journal.change_file(target_root, "/etc/new.conf", b"created\n", reason="three", mode=0o600)
    undo_journal = Journal.create(tmp_path / "j2")
    report = undo_session(journal, target_root, undo_journal)
    assert len(report.restored) == 3 and not report.skipped
    assert (target_root / "etc/fstab").read_bytes() == original
    assert (target_root / "etc/fstab").stat().st_mode & 0o777 == 0o640
    assert not (target_root / "etc/new.conf").exists()
    # The undo is itself journaled with backups, and a second undo finds nothing left to do.
    assert sum(r["kind"] == "file-change" for r in undo_journal.records()) == 3
    again = undo_session(journal, target_root, Journal.create(tmp_path / "j3"))
    assert again.restored == []


def test_undo_last_only(target_root: Path, tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "j1")
    journal.change_file(target_root, "/etc/fstab", b"first\n", reason="one")
    journal.change_file(target_root, "/etc/fstab", b"second\n", reason="two")
    undo_session(journal, target_root, Journal.create(tmp_path / "j2"), which="last")
    assert (target_root / "etc/fstab").read_bytes() == b"first\n"


def test_undo_leaves_a_file_changed_since(target_root: Path, tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "j1")
    journal.change_file(target_root, "/etc/fstab", b"ours\n", reason="one")
    (target_root / "etc/fstab").write_bytes(b"someone else\n")
    report = undo_session(journal, target_root, Journal.create(tmp_path / "j2"))
    assert report.restored == [] and "changed since" in report.skipped[0]
    assert (target_root / "etc/fstab").read_bytes() == b"someone else\n"


def test_absolute_symlinks_stay_inside_the_target(tmp_path: Path, journal_dir: Path) -> None:
    """A target's `/etc -> /host-etc` link must not lead a write onto the rescue host."""
    root = tmp_path / "target"
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "real-etc").mkdir(parents=True)
    (root / "etc").symlink_to(str(outside))  # absolute, as the target would see it: wrong place
    (root / "etc").unlink()
    (root / "etc").symlink_to("/real-etc")
    journal = Journal.create(journal_dir)
    journal.change_file(root, "/etc/hosts", b"127.0.0.1 localhost\n", reason="test", mode=0o644)
    assert (root / "real-etc/hosts").read_bytes() == b"127.0.0.1 localhost\n"
    assert list(outside.iterdir()) == []


def test_refuses_to_replace_a_symlink(tmp_path: Path, journal_dir: Path) -> None:
    root = tmp_path / "target"
    (root / "etc").mkdir(parents=True)
    (root / "etc/resolv.conf").symlink_to("/run/resolv.conf")
    with pytest.raises(RescueError, match="symbolic link"):
        Journal.create(journal_dir).change_file(root, "/etc/resolv.conf", b"x", reason="t")


def test_a_torn_last_line_is_ignored(journal_dir: Path) -> None:
    journal = Journal.create(journal_dir)
    journal.decision("Rebuild initramfs?", "yes")
    with open(journal.path, "a") as f:
        f.write('{"seq": 99, "kind": "comm')
    kinds = [r["kind"] for r in Journal.open(journal.directory).records()]
    assert kinds == ["session-start", "decision"]


def test_latest_session(tmp_path: Path) -> None:
    with pytest.raises(RescueError, match="No rescuetui session"):
        Journal.latest(tmp_path)
    first = Journal.create(tmp_path / "a")
    assert Journal.latest(tmp_path / "a") == first.directory


def test_undo_takes_the_latest_session_that_changed_something(target_root: Path,
                                                              tmp_path: Path) -> None:
    """A look or a dry run after a repair is newer, but undo means the repair."""
    base = tmp_path / "journals"
    repair = Journal.create(base)
    repair.append("target", device="/dev/vdb1")
    repair.change_file(target_root, "/etc/hostname", b"changed\n", reason="test")
    look = Journal.create(base)
    look.append("target", device="/dev/vdb1")
    look.decision("apply initramfs-rebuild?", "no")
    assert Journal.latest(base) == look.directory
    assert Journal.latest(base, changed=True) == repair.directory


def test_mode_and_owner_of_a_directory_and_a_setuid_file_undo_exactly(
        target_root: Path, tmp_path: Path) -> None:
    """A directory's mode (/tmp lost its sticky bit) and a setuid binary's owner: a mode or
    owner change keeps no copy of the content (none is needed, and a directory has none), and
    undo sets both back; chown comes before chmod, so the setuid bit survives."""
    tmp_dir = target_root / "tmp"
    tmp_dir.mkdir(mode=0o755)
    os.chmod(tmp_dir, 0o755)
    sudo = target_root / "usr/bin/sudo"
    sudo.parent.mkdir(parents=True)
    sudo.write_bytes(b"\x7fELF sudo")
    os.chown(sudo, 1000, 1000)
    os.chmod(sudo, 0o755)
    journal = Journal.create(tmp_path / "j1")
    record = journal.change_mode(target_root, "/tmp", 0o1777, reason="sticky")
    assert record["backup"] is None and record["after"]["mode"] == "1777"
    journal.change_attributes(target_root, "/usr/bin/sudo", reason="setuid root", mode=0o4755,
                              uid=0, gid=0)
    st = sudo.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o4755, 0, 0)
    assert (tmp_dir.stat().st_mode & 0o7777) == 0o1777
    report = undo_session(journal, target_root, Journal.create(tmp_path / "j2"))
    assert len(report.restored) == 2 and not report.skipped
    st = sudo.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o755, 1000, 1000)
    assert (tmp_dir.stat().st_mode & 0o7777) == 0o755


def test_a_file_that_cannot_be_backed_up_is_not_changed(target_root: Path,
                                                        journal_dir: Path) -> None:
    """A FIFO where a file is expected: its backup would wait for a writer forever, and a
    change without a backup is no change rescuetui makes. Said, and nothing changes."""
    os.mkfifo(target_root / "etc/hosts")
    journal = Journal.create(journal_dir)
    with pytest.raises(RescueError, match="cannot be backed up"):
        journal.change_file(target_root, "/etc/hosts", b"x\n", reason="test")
    with pytest.raises(RescueError, match="cannot be backed up"):
        journal.remove_file(target_root, "/etc/hosts", reason="test")
    assert (target_root / "etc/hosts").is_fifo()
    assert not [r for r in journal.records() if r["kind"] == "file-change"]


def test_a_file_bigger_than_a_backup_is_not_changed(target_root: Path, journal_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import rescuetui.core.journal as journal_module

    monkeypatch.setattr(journal_module, "MAX_BACKUP_BYTES", 16)
    journal = Journal.create(journal_dir)
    before = (target_root / "etc/fstab").read_bytes()
    with pytest.raises(RescueError, match="more than"):
        journal.change_file(target_root, "/etc/fstab", b"x\n", reason="test")
    assert (target_root / "etc/fstab").read_bytes() == before


def test_a_removed_link_comes_back_on_undo(target_root: Path, tmp_path: Path) -> None:
    (target_root / "etc/localtime").symlink_to("/usr/share/zoneinfo/UTC")
    journal = Journal.create(tmp_path / "j1")
    record = journal.remove_file(target_root, "/etc/localtime", reason="test")
    assert record["link_target"] == "/usr/share/zoneinfo/UTC" and record["backup"] is None
    assert not os.path.lexists(target_root / "etc/localtime")
    report = undo_session(journal, target_root, Journal.create(tmp_path / "j2"))
    assert report.restored and not report.skipped
    assert os.readlink(target_root / "etc/localtime") == "/usr/share/zoneinfo/UTC"


def test_the_copy_into_the_target_stays_inside_it(tmp_path: Path) -> None:
    """/var/log a relative link climbing out of the target: the copy lands inside it."""
    root = tmp_path / "target"
    (root / "var").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "var/log").symlink_to("../../../../../../../.." + str(outside))
    (root / str(outside).lstrip("/")).mkdir(parents=True)
    journal = Journal.create(tmp_path / "journal")
    assert journal.copy_into(root) == f"/var/log/rescuetui/{journal.directory.name}"
    assert list(outside.iterdir()) == []
    copied = root / str(outside).lstrip("/") / "rescuetui" / journal.directory.name
    assert (copied / "journal.jsonl").is_file()
