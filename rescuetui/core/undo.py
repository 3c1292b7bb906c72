"""Undo: restore the files a session changed, newest first, from the backups in its journal."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rescuetui.core.confined import ConfinedRoot
from rescuetui.core.diskbytes import DiskRegion, read_region, write_region
from rescuetui.core.errors import RescueError
from rescuetui.core.inventory import in_use, scan_inventory
from rescuetui.core.journal import FileState, Journal, bytes_digest


@dataclass
class UndoReport:
    restored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_undoable: list[str] = field(default_factory=list)
    # Filesystem starts (superblocks) left for `undo_filesystem_regions`, once nothing of the
    # target is mounted any more: their seq numbers.
    deferred: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, list[str]]:
        return {"restored": self.restored, "skipped": self.skipped,
                "not_undoable": self.not_undoable}

    def merge(self, other: UndoReport) -> None:
        self.restored += other.restored
        self.skipped += other.skipped


def pending_changes(journal: Journal) -> list[dict[str, Any]]:
    """File and disk region changes of the session not undone yet, newest first."""
    records = journal.records()
    undone = {r["undoes"] for r in records if r.get("kind") == "undo"}
    after = {r["region"]: r["after"] for r in records if r.get("kind") == "disk-region-after"}
    out = []
    for r in reversed(records):
        if r["seq"] in undone:
            continue
        if r.get("kind") == "file-change":
            out.append(r)
        elif r.get("kind") == "disk-region" and r["seq"] in after:
            out.append(dict(r, after=after[r["seq"]]))
    return out


def undo_session(
    journal: Journal,
    root: Path,
    recorder: Journal,
    *,
    which: str | int = "all",
    force: bool = False,
    disk: str | None = None,
    filesystem_regions: bool = True,
) -> UndoReport:
    """Restore the files `journal` recorded as changed, in the target mounted (writable) at `root`.

    `which` is "all", "last" or the seq number of one change. Each restore is itself a change
    recorded in `recorder` (the undo run's own journal) with a backup, so an undo can be undone.
    A file changed again since the session is left alone unless `force`. Without
    `filesystem_regions`, the starts of filesystems a fix restored are left for
    `undo_filesystem_regions` (listed in `deferred`): the target is mounted now.
    """
    changes = pending_changes(journal)
    if which == "last":
        changes = changes[:1]
    elif which != "all":
        changes = [r for r in changes if r["seq"] == int(which)]
        if not changes:
            raise RescueError(f"Change {which} is not in {journal.directory} or is already undone.")
    report = UndoReport()
    files = ConfinedRoot(root)
    for record in changes:
        if record.get("kind") == "disk-region":
            if record.get("filesystem") and not filesystem_regions:
                report.deferred.append(record["seq"])
                continue
            _undo_region(journal, record, recorder, disk, force, report)
            continue
        path = record["path"]
        before = FileState.from_record(record["before"])
        after = FileState.from_record(record["after"])
        now = FileState.of(files, path)
        if record.get("attributes_only"):
            changed = (now.mode, now.uid, now.gid) != (after.mode, after.uid, after.gid)
            if changed and not force:
                report.skipped.append(f"#{record['seq']} {path}: its mode or owner changed "
                                      "since this session (not undone); use --force.")
                continue
            recorder.change_attributes(root, path, reason=f"undo of #{record['seq']} from "
                                       f"{journal.directory.name}", mode=before.mode,
                                       uid=before.uid, gid=before.gid)
            journal.append("undo", undoes=record["seq"], by=str(recorder.directory))
            report.restored.append(f"#{record['seq']} {path}")
            continue
        if (now.exists, now.digest) != (after.exists, after.digest) and not force:
            backup = record.get("backup") or "(none: the file did not exist)"
            report.skipped.append(
                f"#{record['seq']} {path}: changed since this session (not undone). Its backup: "
                f"{backup}; use --force to restore it anyway."
            )
            continue
        reason = f"undo of #{record['seq']} from {journal.directory.name}"
        if before.exists and record.get("link_target") and not record.get("backup"):
            recorder.create_symlink(root, path, record["link_target"], reason=reason)
        elif before.exists:
            backup_path = Path(record["backup"])  # in the journal's own directory, on the host
            recorder.change_file(root, path, backup_path.read_bytes(), reason=reason, owner=before)
        else:
            recorder.remove_file(root, path, reason=reason)
        journal.append("undo", undoes=record["seq"], by=str(recorder.directory))
        report.restored.append(f"#{record['seq']} {path}")
    if which in ("all", "last"):
        report.not_undoable = _package_operations(journal)
    return report


def undo_filesystem_regions(journal: Journal, seqs: list[int], recorder: Journal, disk: str,
                            *, force: bool = False) -> UndoReport:
    """Put back the starts of filesystems (destroyed superblocks a fix restored) that
    `undo_session` deferred, with nothing mounted from them."""
    report = UndoReport()
    for record in pending_changes(journal):
        if record["seq"] in seqs:
            _undo_region(journal, record, recorder, disk, force, report)
    return report


def _undo_region(journal: Journal, record: dict[str, Any], recorder: Journal, disk: str | None,
                 force: bool, report: UndoReport) -> None:
    """Put a byte range of the disk back (boot code, the post-MBR gap, a filesystem's start)
    from its backup, when the disk still holds what the fix wrote there."""
    what = f"#{record['seq']} {record['what']}"
    if disk is None:
        report.skipped.append(f"{what}: the target's disk is not known; give --disk.")
        return
    busy = _filesystem_busy(disk, record["offset"]) if record.get("filesystem") else ""
    if busy:
        report.skipped.append(f"{what} of {disk}: not undone, because {busy}; unmount it first.")
        return
    now = bytes_digest(read_region(disk, record["offset"], record["length"]))
    if now != record["after"] and not force:
        report.skipped.append(f"{what} of {disk}: changed since this session (not undone); "
                              f"its backup: {record['backup']}; use --force to restore it.")
        return
    data = Path(record["backup"]).read_bytes()
    if len(data) != record["length"]:
        report.skipped.append(f"{what}: the backup {record['backup']} is not whole.")
        return
    mine = recorder.backup_disk_region(disk, DiskRegion(record["offset"], record["length"],
                                                     record["what"]))
    write_region(disk, record["offset"], data)
    recorder.disk_region_written(mine)
    journal.append("undo", undoes=record["seq"], by=str(recorder.directory))
    report.restored.append(f"{what} of {disk} (bytes {record['offset']}-"
                           f"{record['offset'] + record['length'] - 1})")


def _filesystem_busy(disk: str, offset: int) -> str:
    """Why the partition of `disk` that starts at `offset` must not be written now, or ""."""
    real = os.path.realpath(disk)
    inventory = scan_inventory()
    for device in inventory.devices:
        if device.parent != real or device.devtype != "partition":
            continue
        start = Path("/sys/class/block") / device.name / "start"
        try:
            begins = int(start.read_text().strip()) * 512
        except (OSError, ValueError):
            continue
        if begins == offset:
            return in_use(device)
    whole = inventory.get(real)  # a logical volume: the filesystem is the device itself
    return in_use(whole) if whole is not None and offset == 0 else ""


def _package_operations(journal: Journal) -> list[str]:
    """Commands whose file changes were recorded by a manifest: undone by hand, not by us."""
    out = []
    commands = {r["seq"]: r for r in journal.records() if r.get("kind") == "command"}
    for rec in journal.records():
        if rec.get("kind") != "manifest":
            continue
        command = commands.get(rec.get("command"), {})
        argv = shlex.join(command.get("argv", ["?"]))
        changed = rec.get("added", []) + rec.get("removed", []) + rec.get("modified", [])
        out.append(
            f"#{rec.get('command')} `{argv}` changed {len(changed)} files as a command, not "
            "through a backup; reverse it with the package manager (remove or reinstall the "
            "package at its earlier version) — the manifest in the journal lists every file."
        )
    return out
