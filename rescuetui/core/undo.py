"""Undo: restore the files a session changed, newest first, from the backups in its journal."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rescuetui.core.errors import RescueError
from rescuetui.core.journal import FileState, Journal
from rescuetui.core.rootpath import resolve_in_root


@dataclass
class UndoReport:
    restored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_undoable: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, list[str]]:
        return {"restored": self.restored, "skipped": self.skipped,
                "not_undoable": self.not_undoable}


def pending_changes(journal: Journal) -> list[dict[str, Any]]:
    """File changes of the session not undone yet, newest first."""
    records = journal.records()
    undone = {r["undoes"] for r in records if r.get("kind") == "undo"}
    return [r for r in reversed(records) if r.get("kind") == "file-change" and r["seq"] not in undone]


def undo_session(
    journal: Journal,
    root: Path,
    recorder: Journal,
    *,
    which: str | int = "all",
    force: bool = False,
) -> UndoReport:
    """Restore the files `journal` recorded as changed, in the target mounted (writable) at `root`.

    `which` is "all", "last" or the seq number of one change. Each restore is itself a change
    recorded in `recorder` (the undo run's own journal) with a backup, so an undo can be undone.
    A file changed again since the session is left alone unless `force`.
    """
    changes = pending_changes(journal)
    if which == "last":
        changes = changes[:1]
    elif which != "all":
        changes = [r for r in changes if r["seq"] == int(which)]
        if not changes:
            raise RescueError(f"Change {which} is not in {journal.directory} or is already undone.")
    report = UndoReport()
    for record in changes:
        path = record["path"]
        before = FileState.from_record(record["before"])
        after = FileState.from_record(record["after"])
        now = FileState.of(resolve_in_root(root, path, follow_last=False))
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
        if before.exists:
            backup_path = Path(record["backup"])
            recorder.change_file(root, path, backup_path.read_bytes(), reason=reason, owner=before)
        else:
            recorder.remove_file(root, path, reason=reason)
        journal.append("undo", undoes=record["seq"], by=str(recorder.directory))
        report.restored.append(f"#{record['seq']} {path}")
    if which in ("all", "last"):
        report.not_undoable = _package_operations(journal)
    return report


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
