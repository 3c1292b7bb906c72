"""The broken system's own records: its journal of earlier boots, kernel and syslog files, kdump
output, and its package history (what changed last)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from rescuetui.core.rootpath import resolve_in_root
from rescuetui.diagnose.classifier import Diagnosis
from rescuetui.diagnose.machine import MachineEvidence, machine_drivers
from rescuetui.diagnose.scanner import open_evidence

LOG_GLOBS = ("kern.log*", "messages*", "syslog*", "dmesg*", "boot.log*")
KDUMP_GLOBS = ("*/vmcore-dmesg.txt", "*/dmesg.*", "*/kexec-dmesg.log")
# The dumps themselves: kdump-tools' dump.STAMP, kexec-tools' (RHEL) vmcore.
VMCORE_GLOBS = ("*/dump.*", "*/vmcore")
DUMP_DMESG_TIMEOUT = 120  # seconds: makedumpfile reads only the log buffer, not the whole dump
FLATTENED_SIGNATURE = b"makedumpfile"
MAX_REARRANGED = 4 << 30  # a flattened dump is copied whole to be rearranged
JOURNAL_BOOTS = 3  # the newest boots read from the journal
PACKAGE_LOGS = {
    "/var/log/dpkg.log": re.compile(r"^\S+ \S+ (?:install|upgrade|remove|purge) "),
    "/var/log/apt/history.log": re.compile(r"^(?:Start-Date|Commandline|Install|Upgrade|Remove):"),
    "/var/log/dnf.rpm.log": re.compile(r"\b(?:Upgrade|Upgraded|Install|Erase|Reinstall)d?: "),
    "/var/log/yum.log": re.compile(r"\b(?:Installed|Updated|Erased): "),
    "/var/log/zypp/history": re.compile(r"^[^#].*\|(?:install|remove)\|"),
}


@dataclass
class TargetEvidence:
    sources: list[tuple[str, Path]] = field(default_factory=list)  # (name, file to read)
    notes: list[str] = field(default_factory=list)
    recent_changes: list[str] = field(default_factory=list)
    machine: MachineEvidence = field(default_factory=MachineEvidence)  # its disk drivers


def _sorted_logs(directory: Path, globs: tuple[str, ...]) -> list[Path]:
    """The regular files of `directory` (already resolved inside the target) that match: a
    link is never followed (it could point at the rescue host's own files), nor is anything
    that is not a regular file read (a FIFO would hang the read, a device node is no log)."""
    found = {}
    for pattern in globs:
        for path in directory.glob(pattern):
            try:
                info = path.lstat()
                if not stat.S_ISREG(info.st_mode) or path.parent.is_symlink():
                    continue
            except OSError:
                continue
            found[path] = info.st_mtime
    # newest first: kern.log, then kern.log.1, kern.log.2.gz ...
    return sorted(found, key=lambda p: (-found[p], p.name))


@contextmanager
def target_evidence(root: Path) -> Iterator[TargetEvidence]:
    """Collect the target's evidence; journal exports live in a temporary directory for the
    duration of the `with`."""
    found = TargetEvidence()
    with tempfile.TemporaryDirectory(prefix="rescuetui-evidence-") as tmp:
        _journal(root, Path(tmp), found)
        log_dir = resolve_in_root(root, "/var/log")
        if log_dir.is_dir():
            for path in _sorted_logs(log_dir, LOG_GLOBS):
                found.sources.append((f"/var/log/{path.name}", path))
        crash = resolve_in_root(root, "/var/crash")
        if crash.is_dir():
            saved_logs = _sorted_logs(crash, KDUMP_GLOBS)
            for path in saved_logs:
                found.sources.append((f"/var/crash/{path.relative_to(crash)}", path))
            _logs_from_dumps(crash, {p.parent for p in saved_logs}, Path(tmp), found)
        found.recent_changes = package_history(root)
        yield found


def _logs_from_dumps(crash: Path, with_log: set[Path], tmp: Path,
                     found: TargetEvidence) -> None:
    """A crash directory with a dump but no saved log (the crash kernel ran out of time or
    space after the dump, or was set not to save it): the kernel's log is extracted from the
    dump on the host with makedumpfile --dump-dmesg, which reads the dump as data (its
    vmcoreinfo says where the log buffer is), so that nobody has to open it in crash.
    `with_log`: the crash directories whose log was saved."""
    for dump in _sorted_logs(crash, VMCORE_GLOBS):
        if dump.parent in with_log or dump.name.endswith(".txt"):
            continue
        name = f"/var/crash/{dump.relative_to(crash)}"
        if shutil.which("makedumpfile") is None:
            found.notes.append(f"{name} is a crash dump without its kernel log, and this rescue "
                               "system has no makedumpfile to extract the log (install "
                               "makedumpfile).")
            continue
        out = tmp / f"dmesg-from-{dump.parent.name}-{dump.name}.log"
        failure = _dump_dmesg(dump, tmp / "rearranged.dump", out)
        if failure:
            found.notes.append(f"{name}: its kernel log could not be extracted ({failure}).")
            continue
        found.sources.append((f"{name} (its kernel log, by makedumpfile --dump-dmesg)", out))
        with_log.add(dump.parent)


def _dump_dmesg(dump: Path, rearranged: Path, out: Path) -> str:
    """makedumpfile --dump-dmesg DUMP OUT; a dump in makedumpfile's flattened format (what
    kdump-tools saves: it begins with "makedumpfile") is first rearranged into a seekable one
    (makedumpfile -R). Returns what went wrong, or "" when OUT holds the log."""
    # Unbuffered: makedumpfile -R reads the same descriptor from the start, so the position
    # the signature's read left must really be back at 0 (a buffered seek may not move it).
    with open(dump, "rb", buffering=0) as source:
        flattened = source.read(len(FLATTENED_SIGNATURE)) == FLATTENED_SIGNATURE
        size = os.fstat(source.fileno()).st_size
        if flattened:
            if size > MAX_REARRANGED:
                return (f"a flattened dump of {size >> 20} MiB, more than rescuetui rearranges "
                        f"({MAX_REARRANGED >> 20} MiB); run makedumpfile -R on it")
            source.seek(0)
            failure = _makedumpfile(["-R", str(rearranged)], stdin=source)
            if failure:
                return failure
            dump = rearranged
    try:
        return _makedumpfile(["--dump-dmesg", str(dump), str(out)]) or (
            "" if out.is_file() else "makedumpfile --dump-dmesg wrote no log")
    finally:
        rearranged.unlink(missing_ok=True)


def _makedumpfile(args: list[str], stdin: BinaryIO | None = None) -> str:
    command = f"makedumpfile {args[0]}"
    try:
        done = subprocess.run(["makedumpfile", *args], stdin=stdin, capture_output=True,
                              check=False, timeout=DUMP_DMESG_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"{command} did not finish in {DUMP_DMESG_TIMEOUT} s"
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"]
        return f"{command} exited {done.returncode}: {said[-1][:200]}"
    return ""


def _journal(root: Path, tmp: Path, found: TargetEvidence) -> None:
    directory = resolve_in_root(root, "/var/log/journal")
    if not directory.is_dir():
        return
    if shutil.which("journalctl") is None:
        found.notes.append("The target has a journal, but this rescue system has no journalctl "
                           "to read it (install systemd).")
        return
    listing = subprocess.run(["journalctl", f"--directory={directory}", "--list-boots",
                              "--no-pager", "-q"], capture_output=True, text=True, check=False)
    _note_unreadable(listing.stderr, found)
    boots = [line.split()[0] for line in listing.stdout.splitlines()
             if line.strip() and line.split()[0].lstrip("-").isdigit()]
    for offset in sorted({int(b) for b in boots})[-JOURNAL_BOOTS:][::-1]:
        out = tmp / f"journal-boot{offset}.log"
        with open(out, "wb") as f:
            done = subprocess.run(["journalctl", f"--directory={directory}", "-b", str(offset),
                                   "-o", "short-monotonic", "--no-pager", "-q"],
                                  stdout=f, stderr=subprocess.PIPE, check=False)
        _note_unreadable(done.stderr.decode("utf-8", "replace"), found)
        found.sources.append((f"journal (boot {offset})", out))


def _note_unreadable(stderr: str, found: TargetEvidence) -> None:
    if "unsupported feature" in stderr or "Protocol not supported" in stderr:
        note = ("Part of the target's journal uses a format newer than this rescue system's "
                "journalctl can read; those files were skipped (use a newer rescue image).")
        if note not in found.notes:
            found.notes.append(note)


def package_history(root: Path, keep: int = 10) -> list[str]:
    """The last package changes each package manager recorded, newest last."""
    changes: list[str] = []
    for path, wanted in PACKAGE_LOGS.items():
        host = resolve_in_root(root, path)
        if not host.is_file():
            continue
        tail: deque[str] = deque(maxlen=keep)
        with open_evidence(host) as f:
            for raw in f:
                line = raw.decode("utf-8", "replace").rstrip()
                if wanted.search(line):
                    tail.append(f"{path}: {line}")
        changes.extend(tail)
    return changes


def diagnose_target(root: Path) -> tuple[list[Diagnosis], TargetEvidence]:
    """Diagnose every log the mounted target keeps, newest first, and its package history; and
    read the disk drivers of the machine those boots ran on, from the same files."""
    from rescuetui.diagnose.classifier import diagnose_file

    with target_evidence(root) as evidence:
        evidence.machine = machine_drivers(evidence.sources)
        return [diagnose_file(path, name) for name, path in evidence.sources], evidence
