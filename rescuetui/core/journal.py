"""The session journal: every command, file change and decision, as fsync'd JSON lines, with backups."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rescuetui.core.diskbytes import DiskRegion, read_region
from rescuetui.core.errors import RescueError
from rescuetui.core.rootpath import resolve_in_root

DEFAULT_JOURNAL_BASE = Path("/var/log/rescuetui")
JOURNAL_FILE = "journal.jsonl"


def digest_of(path: Path) -> str | None:
    """sha256 of a regular file, or None when it does not exist."""
    import hashlib  # only when a file changes: keeps it off the start-up path

    if not path.is_file() or path.is_symlink():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
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
    def of(cls, path: Path) -> FileState:
        try:
            st = path.lstat()
        except FileNotFoundError:
            return cls(False)
        return cls(True, digest_of(path), st.st_mode & 0o7777, st.st_uid, st.st_gid)

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


class Journal:
    """One directory per session: `journal.jsonl`, `output/` (command output), `backups/`.

    Each record is flushed and fsync'd before the call returns, so a crash or a power cut loses
    at most the record being written. Paths of target files are recorded relative to the target's
    root (`/etc/fstab`), because the target is mounted somewhere else each session.
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
        journal.append("session-start", host=os.uname().nodename, pid=os.getpid())
        return journal

    @classmethod
    def open(cls, directory: Path) -> Journal:
        if not (directory / JOURNAL_FILE).is_file():
            raise RescueError(f"{directory} holds no rescuetui journal ({JOURNAL_FILE} missing).")
        return cls(directory)

    @staticmethod
    def latest(base: Path | None = None) -> Path:
        base = base or DEFAULT_JOURNAL_BASE
        sessions = sorted(p for p in base.glob("*/" + JOURNAL_FILE)) if base.is_dir() else []
        if not sessions:
            raise RescueError(f"No rescuetui session journal found under {base}.")
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
        record: dict[str, Any] = {"seq": seq or self.next_seq(), "kind": kind, "time": time.time()}
        record.update(fields)
        line = json.dumps(record, ensure_ascii=True, default=str) + "\n"
        with open(self.path, "a", encoding="ascii") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
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

        The old file is copied into the journal's backups first, the new one is written to a
        temporary file beside it and renamed over, and the record names both digests. Mode and
        owner stay as they were, unless `owner` (a FileState) gives others; a new file gets `mode`.
        """
        host_path = _in_root(root, path)
        seq = self.next_seq()
        before = FileState.of(host_path)
        backup = self._backup(seq, host_path, path) if before.exists else None
        tmp = host_path.with_name(f".{host_path.name}.rescuetui-{seq}")
        try:
            with open(tmp, "wb") as f:
                f.write(new_content)
                f.flush()
                os.fsync(f.fileno())
            keep = owner if owner is not None and owner.exists else before
            if keep.exists:
                os.chown(tmp, keep.uid or 0, keep.gid or 0)
                os.chmod(tmp, keep.mode if keep.mode is not None else 0o644)
            elif mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, host_path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise RescueError(
                f"Could not write {path} on the target: {exc.strerror}. The file is unchanged"
                f"{'; its backup is ' + str(backup) if backup else ''}."
            ) from exc
        return self._record_change(seq, path, reason, before, FileState.of(host_path), backup)

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
        host_path = _in_root(root, path)
        seq = self.next_seq()
        before = FileState.of(host_path)
        if not before.exists:
            raise RescueError(f"{path} does not exist on the target; its mode cannot change.")
        try:
            if uid is not None or gid is not None:
                os.lchown(host_path, -1 if uid is None else uid, -1 if gid is None else gid)
            if mode is not None or uid is not None or gid is not None:
                keep = before.mode if mode is None else mode
                if not host_path.is_symlink() and keep is not None:
                    os.chmod(host_path, keep)
        except OSError as exc:
            raise RescueError(f"Could not change the mode or owner of {path}: {exc.strerror}. "
                              "Is the target mounted read-only?") from exc
        return self.append(
            "file-change", seq=seq, path=path, reason=reason, attributes_only=True,
            before=before.as_record(), after=FileState.of(host_path).as_record(), backup=None)

    def create_symlink(self, root: Path, path: str, link_target: str, *, reason: str
                       ) -> dict[str, Any]:
        """Create a missing symbolic link in the target (undo removes it)."""
        host_path = _in_root(root, path)
        seq = self.next_seq()
        before = FileState.of(host_path)
        if before.exists:
            raise RescueError(f"{path} exists on the target; rescuetui does not replace it "
                              "with a link.")
        try:
            os.symlink(link_target, host_path)
        except OSError as exc:
            raise RescueError(f"Could not create the link {path}: {exc.strerror}.") from exc
        return self.append("file-change", seq=seq, path=path, reason=reason,
                           link_target=link_target, before=before.as_record(),
                           after=FileState.of(host_path).as_record(), backup=None)

    def remove_file(self, root: Path, path: str, *, reason: str) -> dict[str, Any]:
        """Delete a target file, after copying it into the backups."""
        host_path = _in_root(root, path)
        seq = self.next_seq()
        before = FileState.of(host_path)
        backup = self._backup(seq, host_path, path) if before.exists else None
        host_path.unlink(missing_ok=True)
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

    def _backup(self, seq: int, host_path: Path, path: str) -> Path:
        dest = self.directory / "backups" / f"{seq:05d}" / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(host_path, dest, follow_symlinks=False)
        with open(dest, "rb") as f:
            os.fsync(f.fileno())
        return dest

    def make_directories(self, root: Path, path: str, *, reason: str) -> list[str]:
        """Create the missing directories of target path `path` (0755), each one journaled."""
        made: list[str] = []
        current = ""
        for part in [p for p in path.split("/") if p]:
            current += "/" + part
            host = _in_root(root, current)
            if host.is_dir():
                continue
            try:
                host.mkdir(mode=0o755)
            except OSError as exc:
                raise RescueError(f"Could not create the directory {current} on the target: "
                                  f"{exc.strerror}.") from exc
            self.append("directory-created", path=current, reason=reason)
            made.append(current)
        return made

    def backup_disk_region(self, disk: str, region: DiskRegion) -> dict[str, Any]:
        """Copy a byte range of the whole disk (boot code, the post-MBR gap) into the backups
        before a command writes it; `disk_region_written` completes the record afterwards."""
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
        data = read_region(record["disk"], record["offset"], record["length"])
        return self.append("disk-region-after", region=record["seq"], after=bytes_digest(data))

    def copy_into(self, root: Path) -> Path | None:
        """Copy the whole session directory into the target, so the record travels with the disk.

        Returns where it went, or None when the target is not writable (said in the journal).
        """
        dest = root / "var/log/rescuetui" / self.directory.name
        try:
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(self.directory, dest, symlinks=True)
        except OSError as exc:
            self.append("note", text=f"journal not copied into the target: {exc.strerror}")
            return None
        return dest


def bytes_digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _in_root(root: Path, path: str) -> Path:
    """Host path of a target file: its directories resolved inside the target, never outside.

    A symbolic link as the file itself is refused: the caller names the file the link points to.
    """
    if not path.startswith("/") or "\0" in path:
        raise RescueError(f"Refusing the target path {path!r}: it must be absolute.")
    host_path = resolve_in_root(root, path, follow_last=False)
    if host_path.is_symlink():
        raise RescueError(
            f"{path} on the target is a symbolic link; change the file it points to instead."
        )
    return host_path
