"""The session journal: every command, file change and decision, as fsync'd JSON lines, with backups."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rescuetui.core.confined import ConfinedRoot, write_all
from rescuetui.core.errors import RescueError

if TYPE_CHECKING:
    from rescuetui.core.diskbytes import DiskRegion

DEFAULT_JOURNAL_BASE = Path("/var/log/rescuetui")
JOURNAL_FILE = "journal.jsonl"
# Records of what was seen, not done: written through, fsync'd with the next record (append).
OBSERVATIONS = frozenset({"check", "machine", "path", "diagnosis"})
# Records of a change to the target (what undo restores or lists).
CHANGE_KINDS = frozenset({"file-change", "disk-region", "manifest", "directory-created"})
TARGET_LOG_DIR = "/var/log/rescuetui"  # where the journal travels with the disk
# The largest target file a change backs up (an initramfs, a kernel: tens of MiB). A bigger
# one, or a sparse giant a hostile disk holds, is not copied, and so not changed either.
MAX_BACKUP_BYTES = 2 << 30


@contextlib.contextmanager
def _regular(files: ConfinedRoot, path: str) -> Iterator[int | None]:
    """A read descriptor of the target's regular file `path` itself (a link at the last name
    is not followed); None when it is missing, a link or anything but a regular file."""
    try:
        fd = files.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        yield None
        return
    try:
        yield fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    finally:
        os.close(fd)


def digest_of(files: ConfinedRoot, path: str) -> str | None:
    """sha256 of the target's regular file `path`, or None when there is none."""
    import hashlib  # only when a file changes: keeps it off the start-up path

    with _regular(files, path) as fd:
        if fd is None:
            return None
        h = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
        return h.hexdigest()


@dataclass(frozen=True)
class FileState:
    """What a file looked like at one moment: enough to restore it exactly."""

    exists: bool
    digest: str | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def of(cls, files: ConfinedRoot, path: str) -> FileState:
        """The target's file `path` itself (a link as the last name is the link)."""
        st = files.lstat(path)
        if st is None:
            return cls(False)
        digest = digest_of(files, path) if stat.S_ISREG(st.st_mode) else None
        return cls(True, digest, st.st_mode & 0o7777, st.st_uid, st.st_gid)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FileState:
        mode = record.get("mode")
        return cls(
            bool(record.get("exists")),
            record.get("sha256"),
            int(mode, 8) if mode else None,
            record.get("uid"),
            record.get("gid"),
        )

    def as_record(self) -> dict[str, Any]:
        return {
            "exists": self.exists,
            "sha256": self.digest,
            "mode": None if self.mode is None else f"{self.mode:04o}",
            "uid": self.uid,
            "gid": self.gid,
        }


class JournalUnwritable(RescueError):
    """The journal's own file cannot be written (a full or read-only disk under it)."""


class Journal:
    """One directory per session: `journal.jsonl`, `output/` (command output), `backups/`.

    Each record of a change, a command or a decision is flushed and fsync'd before the call
    returns, so a crash or a power cut loses at most the record being written (observations,
    such as a check's finding, go to the disk with the next of those). Paths of target files
    are recorded relative to the target's root (`/etc/fstab`), because the target is mounted
    somewhere else each session.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / JOURNAL_FILE
        self._seq = self._last_seq()

    @classmethod
    def create(cls, base: Path | None = None) -> Journal:
        base = base or DEFAULT_JOURNAL_BASE
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        try:
            base.mkdir(parents=True, exist_ok=True)
            directory = Path(tempfile.mkdtemp(prefix=f"{stamp}-{os.getpid()}-", dir=base))
            for sub in ("output", "backups"):
                (directory / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise RescueError(
                f"Cannot create a journal directory under {base}: {exc.strerror}. "
                "Give a writable place with --journal DIR."
            ) from exc
        journal = cls(directory)
        try:
            journal.append("session-start", host=os.uname().nodename, pid=os.getpid())
        except JournalUnwritable as exc:
            shutil.rmtree(directory, ignore_errors=True)  # made just now, holds nothing
            reason = exc.__cause__.strerror if isinstance(exc.__cause__, OSError) else exc
            raise JournalUnwritable(
                f"A journal cannot be written under {base}: {reason}. Nothing was done. Free "
                "space there, or give another place with --journal DIR.") from exc
        return journal

    @classmethod
    def open(cls, directory: Path) -> Journal:
        if not (directory / JOURNAL_FILE).is_file():
            raise RescueError(f"{directory} holds no rescuetui journal ({JOURNAL_FILE} missing).")
        return cls(directory)

    @staticmethod
    def latest(base: Path | None = None, *, changed: bool = False) -> Path:
        """The newest session's directory; with `changed`, the newest that mounted a target
        and changed something there (what `undo` means by "the latest": not a look or a
        dry run that came after)."""
        base = base or DEFAULT_JOURNAL_BASE
        # In the order they started (names alone tie within a second: the same second, then
        # a process id and a random part).
        sessions = sorted((p for p in base.glob("*/" + JOURNAL_FILE)), key=_started) \
            if base.is_dir() else []
        if changed:
            sessions = [p for p in sessions if _changed_something(p)]
        if not sessions:
            raise RescueError(f"No rescuetui session journal found under {base}"
                              + (" that changed anything on a disk." if changed else "."))
        return sessions[-1].parent

    def _last_seq(self) -> int:
        last = 0
        for rec in self.records():
            last = max(last, int(rec.get("seq") or 0))
        return last

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def output_path(self, seq: int) -> Path:
        return self.directory / "output" / f"{seq:05d}.log"

    def append(self, kind: str, *, seq: int | None = None, **fields: Any) -> dict[str, Any]:
        """Write one record. A record of what was seen (a check's finding, the machine, the
        way through the tree) is written through and reaches the disk with the next record of
        what was done or decided, which is fsync'd before the call returns: a power cut can
        lose an observation, never a change, a command or a decision."""
        record: dict[str, Any] = {"seq": seq or self.next_seq(), "kind": kind, "time": time.time()}
        record.update(fields)
        line = json.dumps(record, ensure_ascii=True, default=str) + "\n"
        try:
            with open(self.path, "a", encoding="ascii") as f:
                f.write(line)
                f.flush()
                if kind not in OBSERVATIONS:
                    os.fsync(f.fileno())
        except OSError as exc:
            raise JournalUnwritable(
                f"The journal {self.path} cannot be written: {exc.strerror}. rescuetui "
                "stopped there, doing nothing more that it cannot record (its last step may be "
                "missing from the journal). Free space there, or give another place with "
                "--journal DIR.") from exc
        return record

    def records(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        out = []
        with open(self.path, encoding="ascii", errors="replace") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a torn last line after a crash
        return out

    def decision(self, question: str, answer: str) -> dict[str, Any]:
        return self.append("decision", question=question, answer=answer)

    def change_file(
        self,
        root: Path,
        path: str,
        new_content: bytes,
        *,
        reason: str,
        owner: FileState | None = None,
        mode: int | None = None,
    ) -> dict[str, Any]:
        """Replace the target file `path` (relative to `root`) with `new_content`.

        The old file is copied into the journal's backups first (when it cannot be, nothing is
        changed), the new one is written to a temporary file created beside it and renamed
        over, all inside the target's root (core/confined.py), and the record names both
        digests. Mode and owner stay as they were, unless `owner` (a FileState) gives others;
        a new file gets `mode` (0644 without one).
        """
        files = _confined(root, path)
        _not_a_link(files, path)
        seq = self.next_seq()
        before = FileState.of(files, path)
        backup = self._backup(seq, files, path) if before.exists else None
        keep = owner if owner is not None and owner.exists else before
        try:
            if keep.exists:
                files.write_atomic(path, new_content,
                                   mode=keep.mode if keep.mode is not None else 0o644,
                                   uid=keep.uid or 0, gid=keep.gid or 0)
            else:
                files.write_atomic(path, new_content, mode=0o644 if mode is None else mode,
                                   uid=0, gid=0)
        except OSError as exc:
            raise RescueError(
                f"Could not write {path} on the target: {exc.strerror}. The file is unchanged"
                f"{'; its backup is ' + str(backup) if backup else ''}."
            ) from exc
        return self._record_change(seq, path, reason, before, FileState.of(files, path), backup)

    def change_mode(self, root: Path, path: str, mode: int, *, reason: str) -> dict[str, Any]:
        """chmod a target file or directory."""
        return self.change_attributes(root, path, reason=reason, mode=mode)

    def change_attributes(
        self, root: Path, path: str, *, reason: str, mode: int | None = None,
        uid: int | None = None, gid: int | None = None,
    ) -> dict[str, Any]:
        """chown and/or chmod a target file or directory (its content is not touched, so the
        record of its old mode and owner is the whole backup; undo sets them back). chown comes
        first: it clears setuid bits, which the chmod then sets."""
        files = _confined(root, path)
        _not_a_link(files, path)
        seq = self.next_seq()
        before = FileState.of(files, path)
        if not before.exists:
            raise RescueError(f"{path} does not exist on the target; its mode cannot change.")
        try:
            if uid is not None or gid is not None:
                files.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
            if mode is not None or uid is not None or gid is not None:
                keep = before.mode if mode is None else mode
                if not files.is_symlink(path) and keep is not None:
                    files.chmod(path, keep)
        except OSError as exc:
            raise RescueError(f"Could not change the mode or owner of {path}: {exc.strerror}. "
                              "Is the target mounted read-only?") from exc
        return self.append(
            "file-change", seq=seq, path=path, reason=reason, attributes_only=True,
            before=before.as_record(), after=FileState.of(files, path).as_record(), backup=None)

    def create_symlink(self, root: Path, path: str, link_target: str, *, reason: str
                       ) -> dict[str, Any]:
        """Create a missing symbolic link in the target (undo removes it)."""
        files = _confined(root, path)
        seq = self.next_seq()
        before = FileState.of(files, path)
        if before.exists:
            raise RescueError(f"{path} exists on the target; rescuetui does not replace it "
                              "with a link.")
        try:
            files.symlink(link_target, path)
        except OSError as exc:
            raise RescueError(f"Could not create the link {path}: {exc.strerror}.") from exc
        return self.append("file-change", seq=seq, path=path, reason=reason,
                           link_target=link_target, before=before.as_record(),
                           after=FileState.of(files, path).as_record(), backup=None)

    def remove_file(self, root: Path, path: str, *, reason: str) -> dict[str, Any]:
        """Delete a target file, after copying it into the backups (a link: what it says is
        recorded, so undo can make it again)."""
        files = _confined(root, path)
        seq = self.next_seq()
        before = FileState.of(files, path)
        link = files.readlink(path)
        backup = self._backup(seq, files, path) if before.exists and link is None else None
        try:
            files.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise RescueError(f"Could not remove {path} from the target: {exc.strerror}. "
                              "Is the target mounted read-only?") from exc
        if link is not None:
            return self.append("file-change", seq=seq, path=path, reason=reason,
                               link_target=link, before=before.as_record(),
                               after=FileState(False).as_record(), backup=None)
        return self._record_change(seq, path, reason, before, FileState(False), backup)

    def _record_change(
        self, seq: int, path: str, reason: str, before: FileState, after: FileState,
        backup: Path | None,
    ) -> dict[str, Any]:
        return self.append(
            "file-change",
            seq=seq,
            path=path,
            reason=reason,
            before=before.as_record(),
            after=after.as_record(),
            backup=str(backup) if backup else None,
        )

    def _backup(self, seq: int, files: ConfinedRoot, path: str) -> Path:
        """Copy the target's file `path` into the backups: a regular file only (a link, a FIFO,
        a device node or a directory has no content to keep, and is then not changed), read
        through the target's root, at most MAX_BACKUP_BYTES."""
        dest = self.directory / "backups" / f"{seq:05d}" / path.lstrip("/")
        with _regular(files, path) as fd:
            if fd is None:
                raise RescueError(
                    f"{path} on the target cannot be backed up: it is not a regular file (a "
                    "link, a directory, a FIFO or a device node). rescuetui leaves it unchanged; "
                    "look at it by hand (`rescuetui shell`).")
            size = os.fstat(fd).st_size
            if size > MAX_BACKUP_BYTES:
                raise RescueError(
                    f"{path} on the target cannot be backed up: it is {size} bytes, more than "
                    f"the {MAX_BACKUP_BYTES} rescuetui copies. It is left unchanged.")
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                              | os.O_CLOEXEC, 0o600)
                try:
                    left = MAX_BACKUP_BYTES
                    while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
                        write_all(out, chunk)
                        left -= len(chunk)
                    if left <= 0 and os.read(fd, 1):
                        raise OSError(errno.EFBIG, f"{path} grew past {MAX_BACKUP_BYTES} bytes")
                    os.fchmod(out, stat.S_IMODE(os.fstat(fd).st_mode))
                    os.fsync(out)
                finally:
                    os.close(out)
            except OSError as exc:
                raise RescueError(
                    f"{path} on the target could not be backed up to {dest}: {exc.strerror}. "
                    "It is left unchanged; free space under the journal (--journal DIR).") from exc
        return dest

    def make_directories(self, root: Path, path: str, *, reason: str) -> list[str]:
        """Create the missing directories of target path `path` (0755), each one journaled."""
        files = _confined(root, path)
        made: list[str] = []
        current = ""
        for part in [p for p in path.split("/") if p]:
            current += "/" + part
            if files.is_dir(current):
                continue
            try:
                files.mkdir(current, 0o755)
            except OSError as exc:
                raise RescueError(f"Could not create the directory {current} on the target: "
                                  f"{exc.strerror}.") from exc
            self.append("directory-created", path=current, reason=reason)
            made.append(current)
        return made

    def backup_disk_region(self, disk: str, region: DiskRegion) -> dict[str, Any]:
        """Copy a byte range of the whole disk (boot code, the post-MBR gap) into the backups
        before a command writes it; `disk_region_written` completes the record afterwards."""
        from rescuetui.core.diskbytes import read_region

        seq = self.next_seq()
        try:
            data = read_region(disk, region.offset, region.length)
        except OSError as exc:
            raise RescueError(f"Could not read {region.what} of {disk} to back it up: "
                              f"{exc.strerror}. Nothing was written.") from exc
        dest = self.directory / "backups" / f"{seq:05d}" / "disk-region.bin"
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return self.append("disk-region", seq=seq, disk=disk, offset=region.offset,
                           length=region.length, what=region.what,
                           filesystem=region.filesystem, backup=str(dest),
                           before=bytes_digest(data), after=None)

    def disk_region_written(self, record: dict[str, Any]) -> dict[str, Any]:
        """What the region holds after the command that wrote it."""
        from rescuetui.core.diskbytes import read_region

        data = read_region(record["disk"], record["offset"], record["length"])
        return self.append("disk-region-after", region=record["seq"], after=bytes_digest(data))

    def copy_into(self, root: Path) -> str | None:
        """Copy the whole session directory into the target, so the record travels with the disk.

        Every directory is made and every file created inside the target's root: a planted
        `/var/log` link (to the host, or to this very journal's directory) leads nowhere out.
        Returns the target path it went to, or None when it could not be copied (said in the
        journal).
        """
        files = ConfinedRoot(root)
        dest = f"{TARGET_LOG_DIR}/{self.directory.name}"
        try:
            files.makedirs(TARGET_LOG_DIR, 0o755)
            files.remove_tree(dest)
            files.copy_in(self.directory, dest)
        except OSError as exc:
            self.append("note", text=f"journal not copied into the target: {exc.strerror}")
            return None
        return dest


def bytes_digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _not_a_link(files: ConfinedRoot, path: str) -> None:
    if files.is_symlink(path):
        raise RescueError(
            f"{path} on the target is a symbolic link; change the file it points to instead.")


def _confined(root: Path, path: str) -> ConfinedRoot:
    """The target's root, for a change to the absolute target path `path` (never a `..`: the
    backup keeps the same path below the journal's backups)."""
    parts = path.split("/")
    if not path.startswith("/") or "\0" in path or ".." in parts:
        raise RescueError(f"Refusing the target path {path!r}: it must be absolute, without '..'.")
    return ConfinedRoot(root)


def _started(journal_file: Path) -> tuple[float, str]:
    """When a session started (its first record's time), then its name."""
    try:
        with open(journal_file, encoding="utf-8", errors="replace") as f:
            first = json.loads(f.readline() or "{}")
        return float(first.get("time") or 0.0), journal_file.parent.name
    except (OSError, ValueError, TypeError, AttributeError):
        return 0.0, journal_file.parent.name


def _changed_something(journal_file: Path) -> bool:
    """Whether a session's journal records a target and a change made to it."""
    kinds: set[str] = set()
    try:
        with open(journal_file, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                kinds.add(str(record.get("kind")))
    except OSError:
        return False
    return "target" in kinds and bool(kinds & CHANGE_KINDS)
