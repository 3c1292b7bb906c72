"""What a fix is: a plan shown before anything runs (why, risk, commands, files, diff), then
applied through the runner and the journal, and verified by its check."""

from __future__ import annotations

import difflib
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rescuetui.core.confined import ConfinedRoot
from rescuetui.core.diskbytes import DiskRegion
from rescuetui.core.errors import RescueError
from rescuetui.core.journal import Journal
from rescuetui.core.manifest import compare, snapshot
from rescuetui.core.runner import CommandResult, CommandRunner

# The largest target file a fix edits in place: it is read whole and written back whole, and a
# read cut short would lose the rest of the file.
MAX_EDIT_BYTES = 16 << 20


def read_for_edit(files: ConfinedRoot, path: str) -> bytes | None:
    """The whole of the target's regular file `path`, read inside its root, to edit; None when
    it is missing or not a regular file (a FIFO, a link leading nowhere in the target)."""
    data = files.read(path, MAX_EDIT_BYTES + 1)
    if data is not None and len(data) > MAX_EDIT_BYTES:
        raise RescueError(f"{path} on the target is larger than {MAX_EDIT_BYTES >> 20} MiB, "
                          "more than a file rescuetui edits; change it by hand "
                          "(`rescuetui shell --rw`).")
    return data


def not_editable(path: str) -> str:
    """Why a plan is blocked when the file it edits cannot be read."""
    return (f"{path} is missing on the target or is not a regular file (a link that leads "
            "nowhere inside the target, a FIFO, a device node): nothing to edit.")


@dataclass
class Step:
    argv: list[str]
    in_chroot: bool = True
    ok_codes: tuple[int, ...] = (0,)
    timeout: float = 1800.0
    # Whether the step writes the firmware's NVRAM (efivarfs inside its sandbox): said in the
    # plan; no step of today's needs it (a repaired disk boots on the fallback path).
    nvram: bool = False
    # A target file given to the command as its standard input (opened inside the target when
    # the step runs: a host tool reads it through that descriptor, never by a name).
    stdin_path: str | None = None


@dataclass
class FileEdit:
    """A change rescuetui makes itself: new content, or a new mode, for one target file."""

    path: str
    reason: str
    content: bytes | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    link_target: str | None = None  # set: create this missing symbolic link
    make_parents: bool = False  # create missing parent directories first (journaled)


@dataclass
class FixPlan:
    fix: str
    why: str
    risk: str
    steps: list[Step] = field(default_factory=list)
    edits: list[FileEdit] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # what it will change, as far as known
    diff: str = ""
    undo: str = ""
    blocked: str = ""  # set: the fix must not run, and this says why
    second_confirmation: str = ""  # set: a data-loss risk the operator must accept again
    data: dict[str, Any] = field(default_factory=dict)  # what its verification expects
    # Edits that depend on what the steps wrote (grub-mkconfig's root= corrected), computed
    # once the steps ran; shown in the plan by `after_steps_note`.
    after_steps: Callable[[], list[FileEdit]] | None = None
    after_steps_note: str = ""
    # Byte ranges of the whole disk the steps write (boot code): backed up before, for undo.
    disk: str = ""
    regions: list[DiskRegion] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"Fix: {self.fix}", f"  why:  {self.why}", f"  risk: {self.risk}"]
        for number, step in enumerate(self.steps, start=1):
            where = ("in the chroot" + (", with write access to the firmware's NVRAM"
                                        if step.nvram else "")
                     if step.in_chroot else "on the rescue host")
            feed = f" < {step.stdin_path} (read inside the target)" if step.stdin_path else ""
            lines.append(f"  {number}. {shlex.join(step.argv)}{feed}   ({where})")
        for edit in self.edits:
            what = "new content" if edit.content is not None else ""
            if edit.link_target is not None:
                what = f"link to {edit.link_target}"
            if edit.mode is not None:
                what += f" mode {edit.mode:04o}"
            if edit.uid is not None or edit.gid is not None:
                what += f" owner {edit.uid}:{edit.gid}"
            lines.append(f"  edit {edit.path}: {what.strip()}")
        if self.after_steps_note:
            lines.append(f"  then: {self.after_steps_note}")
        for region in self.regions:
            lines.append(f"  backs up {region.what} of {self.disk} (bytes {region.offset}-"
                         f"{region.offset + region.length - 1}) before writing")
        if self.files:
            lines.append("  changes: " + ", ".join(self.files))
        if self.diff:
            lines += ["  diff:"] + ["    " + d for d in self.diff.splitlines()]
        if self.undo:
            lines.append(f"  undo: {self.undo}")
        if self.blocked:
            lines.append(f"  BLOCKED: {self.blocked}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"fix": self.fix, "why": self.why, "risk": self.risk,
                "steps": [{"argv": s.argv, "in_chroot": s.in_chroot} for s in self.steps],
                "edits": [{"path": e.path, "mode": e.mode, "uid": e.uid, "gid": e.gid,
                           "content": e.content is not None}
                          for e in self.edits],
                "then": self.after_steps_note,
                "disk_regions": [dict(r.to_json(), disk=self.disk) for r in self.regions],
                "files": self.files, "diff": self.diff, "undo": self.undo,
                "blocked": self.blocked, "second_confirmation": self.second_confirmation}


def unified_diff(path: str, before: bytes, after: bytes) -> str:
    return "".join(difflib.unified_diff(
        before.decode("utf-8", "replace").splitlines(keepends=True),
        after.decode("utf-8", "replace").splitlines(keepends=True),
        fromfile=f"a{path}", tofile=f"b{path}"))


@dataclass
class Applied:
    plan: FixPlan
    ok: bool
    results: list[CommandResult] = field(default_factory=list)
    message: str = ""


def apply_plan(plan: FixPlan, root: Path, runner: CommandRunner, journal: Journal | None,
               on_line: Any = None) -> Applied:
    """Run a plan: file edits through the journal (backup first), commands through the runner
    with a change manifest of what each one changed on the target."""
    applied = Applied(plan, True)
    if not _apply_edits(plan.edits, root, runner, journal, applied):
        return applied
    if plan.regions and not runner.dry_run:
        assert journal is not None
        try:
            backups = [journal.backup_disk_region(plan.disk, r) for r in plan.regions]
        except RescueError as exc:
            return Applied(plan, False, message=str(exc))
    after = None  # the tree after the last step: the next step's "before" (one walk a step)
    for step in plan.steps:
        before = (after or snapshot(root)) if step.in_chroot and journal \
            and not runner.dry_run else None
        after = None
        stdin = (ConfinedRoot(root).open_regular(step.stdin_path)
                 if step.stdin_path and not runner.dry_run else None)
        try:
            result = runner.run_blocking(step.argv, in_chroot=step.in_chroot,
                                         timeout=step.timeout, on_line=on_line,
                                         nvram=step.nvram, stdin=stdin)
        finally:
            if stdin is not None:
                os.close(stdin)
        applied.results.append(result)
        if before is not None and journal is not None:
            after = snapshot(root)
            diff = compare(before, after)
            journal.append("manifest", command=result.seq, fix=plan.fix, added=diff.added,
                           removed=diff.removed, modified=diff.modified)
        if result.returncode not in step.ok_codes:
            applied.ok = False
            applied.message = result.describe_failure()
            break
    if plan.regions and not runner.dry_run:
        assert journal is not None
        for record in backups:  # what the disk holds now, so undo knows it is still ours
            journal.disk_region_written(record)
    if applied.ok and plan.after_steps is not None and not runner.dry_run:
        try:
            later = plan.after_steps()
        except RescueError as exc:
            return Applied(plan, False, applied.results, str(exc))
        _apply_edits(later, root, runner, journal, applied)
    return applied


def _apply_edits(edits: list[FileEdit], root: Path, runner: CommandRunner,
                 journal: Journal | None, applied: Applied) -> bool:
    """File edits through the journal (backup first); False (and the message set) on failure."""
    for edit in edits:
        if runner.dry_run:
            continue
        assert journal is not None
        try:
            if edit.link_target is not None:
                journal.create_symlink(root, edit.path, edit.link_target, reason=edit.reason)
                continue
            if edit.make_parents:
                journal.make_directories(root, edit.path.rsplit("/", 1)[0], reason=edit.reason)
            if edit.content is not None:
                journal.change_file(root, edit.path, edit.content, reason=edit.reason,
                                    mode=edit.mode)
            if edit.content is None and (edit.mode is not None or edit.uid is not None
                                         or edit.gid is not None):
                journal.change_attributes(root, edit.path, reason=edit.reason, mode=edit.mode,
                                          uid=edit.uid, gid=edit.gid)
        except RescueError as exc:  # what was done so far is journaled; stop here
            applied.ok, applied.message = False, str(exc)
            return False
    return True
