"""The broken system's own records: its journal of earlier boots, kernel and syslog files, kdump
output, and its package history (what changed last)."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from rescuetui.core.confined import ConfinedRoot, read_fd
from rescuetui.diagnose.classifier import Diagnosis
from rescuetui.diagnose.machine import MachineEvidence, machine_drivers

LOG_GLOBS = ("kern.log*", "messages*", "syslog*", "dmesg*", "boot.log*")
KDUMP_GLOBS = ("*/vmcore-dmesg.txt", "*/dmesg.*", "*/kexec-dmesg.log")
# The dumps themselves: kdump-tools' dump.STAMP, kexec-tools' (RHEL) vmcore.
VMCORE_GLOBS = ("*/dump.*", "*/vmcore")
DUMP_DMESG_TIMEOUT = 120  # seconds: makedumpfile reads only the log buffer, not the whole dump
FLATTENED_SIGNATURE = b"makedumpfile"
MAX_REARRANGED = 4 << 30  # a flattened dump is copied whole to be rearranged
JOURNAL_BOOTS = 3  # the newest boots read from the journal
# The newest files of each kind read: every one is held open while it is read, and a disk can
# hold any number of them.
MAX_LOGS = 64
MAX_JOURNAL_FILES = 256
MAX_HISTORY_BYTES = 4 << 20  # the end of a package log: what changed last
PACKAGE_LOGS = {
    "/var/log/dpkg.log": re.compile(r"^\S+ \S+ (?:install|upgrade|remove|purge) "),
    "/var/log/apt/history.log": re.compile(r"^(?:Start-Date|Commandline|Install|Upgrade|Remove):"),
    "/var/log/dnf.rpm.log": re.compile(r"\b(?:Upgrade|Upgraded|Install|Erase|Reinstall)d?: "),
    "/var/log/yum.log": re.compile(r"\b(?:Installed|Updated|Erased): "),
    "/var/log/zypp/history": re.compile(r"^[^#].*\|(?:install|remove)\|"),
}


@dataclass
class TargetEvidence:
    # (name, file to read): a file of ours, or a target's file held open, as its descriptor's
    # /proc/self/fd path (valid inside `target_evidence`'s `with`)
    sources: list[tuple[str, Path]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    recent_changes: list[str] = field(default_factory=list)
    machine: MachineEvidence = field(default_factory=MachineEvidence)  # its disk drivers


def _sorted_logs(files: ConfinedRoot, directory: str, globs: tuple[str, ...],
                 limit: int = MAX_LOGS) -> list[str]:
    """The regular files of the target's `directory` that match (`*/name`: in a directory one
    level down), newest first: a link is never followed, not even inside the target (the
    listing is lstat's), nor is anything that is not a regular file read (a FIFO would hang
    the read, a device node is no log)."""
    found: dict[str, float] = {}
    top = files.entries(directory)
    for pattern in globs:
        below, _, name = pattern.rpartition("/")
        places = [e.path for e in top if e.is_dir and fnmatch.fnmatchcase(e.name, below)] \
            if below else [directory]
        for place in places:
            for entry in files.entries(place) if below else top:
                if entry.is_file and fnmatch.fnmatchcase(entry.name, name):
                    found[entry.path] = entry.st.st_mtime
    # newest first: kern.log, then kern.log.1, kern.log.2.gz ...
    return sorted(found, key=lambda p: (-found[p], p.rsplit("/", 1)[-1]))[:limit]


def _hold(files: ConfinedRoot, path: str, held: ExitStack) -> int | None:
    """A read descriptor of the target's regular file `path`, closed when `held` closes; None
    when it is not one (any more)."""
    try:
        fd = files.open_regular(path)
    except OSError:
        return None
    held.callback(os.close, fd)
    return fd


@contextmanager
def target_evidence(root: Path) -> Iterator[TargetEvidence]:
    """Collect the target's evidence; journal exports live in a temporary directory, and the
    target's logs are held open, for the duration of the `with`."""
    found = TargetEvidence()
    files = ConfinedRoot(root)
    with tempfile.TemporaryDirectory(prefix="rescuetui-evidence-") as tmp, ExitStack() as held:
        _journal(files, Path(tmp), found, held)
        saved_logs = _sorted_logs(files, "/var/crash", KDUMP_GLOBS)
        for log in _sorted_logs(files, "/var/log", LOG_GLOBS) + saved_logs:
            fd = _hold(files, log, held)
            if fd is not None:
                found.sources.append((log, Path(f"/proc/self/fd/{fd}")))
        _logs_from_dumps(files, {log.rsplit("/", 1)[0] for log in saved_logs}, Path(tmp),
                         found, held)
        found.recent_changes = package_history(root)
        yield found


def _logs_from_dumps(files: ConfinedRoot, with_log: set[str], tmp: Path,
                     found: TargetEvidence, held: ExitStack) -> None:
    """A crash directory with a dump but no saved log (the crash kernel ran out of time or
    space after the dump, or was set not to save it): the kernel's log is extracted from the
    dump on the host with makedumpfile --dump-dmesg, which reads the dump as data (its
    vmcoreinfo says where the log buffer is), so that nobody has to open it in crash.
    `with_log`: the crash directories whose log was saved."""
    for dump in _sorted_logs(files, "/var/crash", VMCORE_GLOBS):
        parent, _, base = dump.rpartition("/")
        if parent in with_log or base.endswith(".txt"):
            continue
        if shutil.which("makedumpfile") is None:
            found.notes.append(f"{dump} is a crash dump without its kernel log, and this "
                               "rescue system has no makedumpfile to extract the log (install "
                               "makedumpfile).")
            continue
        fd = _hold(files, dump, held)
        if fd is None:
            continue
        out = tmp / f"dmesg-from-{parent.rsplit('/', 1)[-1]}-{base}.log"
        failure = _dump_dmesg(fd, tmp / "rearranged.dump", out)
        if failure:
            found.notes.append(f"{dump}: its kernel log could not be extracted ({failure}).")
            continue
        found.sources.append((f"{dump} (its kernel log, by makedumpfile --dump-dmesg)", out))
        with_log.add(parent)


def _dump_dmesg(fd: int, rearranged: Path, out: Path) -> str:
    """makedumpfile --dump-dmesg DUMP OUT for the dump held open at `fd`; a dump in
    makedumpfile's flattened format (what kdump-tools saves: it begins with "makedumpfile") is
    first rearranged into a seekable one (makedumpfile -R, reading it on its standard input).
    Returns what went wrong, or "" when OUT holds the log."""
    flattened = os.pread(fd, len(FLATTENED_SIGNATURE), 0) == FLATTENED_SIGNATURE
    size = os.fstat(fd).st_size
    try:
        if flattened:
            if size > MAX_REARRANGED:
                return (f"a flattened dump of {size >> 20} MiB, more than rescuetui rearranges "
                        f"({MAX_REARRANGED >> 20} MiB); run makedumpfile -R on it")
            # Its own open file, at offset 0: makedumpfile -R reads it from the start.
            with open(f"/proc/self/fd/{fd}", "rb", buffering=0) as source:
                failure = _makedumpfile(["-R", str(rearranged)], stdin=source)
            if failure:
                return failure
            done = _makedumpfile(["--dump-dmesg", str(rearranged), str(out)])
        else:
            # The dump by its descriptor, which the child inherits: never by its name.
            done = _makedumpfile(["--dump-dmesg", f"/proc/self/fd/{fd}", str(out)],
                                 pass_fds=(fd,))
        return done or ("" if out.is_file() else "makedumpfile --dump-dmesg wrote no log")
    finally:
        rearranged.unlink(missing_ok=True)


def _makedumpfile(args: list[str], stdin: BinaryIO | None = None,
                  pass_fds: tuple[int, ...] = ()) -> str:
    command = f"makedumpfile {args[0]}"
    try:
        done = subprocess.run(["makedumpfile", *args], stdin=stdin, capture_output=True,
                              check=False, timeout=DUMP_DMESG_TIMEOUT, pass_fds=pass_fds)
    except subprocess.TimeoutExpired:
        return f"{command} did not finish in {DUMP_DMESG_TIMEOUT} s"
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"]
        return f"{command} exited {done.returncode}: {said[-1][:200]}"
    return ""


def _journal(files: ConfinedRoot, tmp: Path, found: TargetEvidence, held: ExitStack) -> None:
    """The newest boots of the target's systemd journal, exported by the host's journalctl.

    journalctl is given the journal's files one by one, as descriptors it inherits
    (`--file=/proc/self/fd/N`), never the directory: it would open whatever names it finds
    there, links to the host's files and FIFOs among them. Only regular files are opened.
    """
    journals = [e for e in files.walk("/var/log/journal", limit=100_000)
                if e.is_file and e.name.endswith((".journal", ".journal~"))]
    if not journals:
        return
    if shutil.which("journalctl") is None:
        found.notes.append("The target has a journal, but this rescue system has no journalctl "
                           "to read it (install systemd).")
        return
    journals.sort(key=lambda e: -e.st.st_mtime)
    fds = [fd for e in journals[:MAX_JOURNAL_FILES]
           if (fd := _hold(files, e.path, held)) is not None]
    if not fds:
        return
    given = [f"--file=/proc/self/fd/{fd}" for fd in fds]
    listing = subprocess.run(["journalctl", *given, "--list-boots", "--no-pager", "-q"],
                             capture_output=True, text=True, check=False, pass_fds=fds)
    _note_unreadable(listing.stderr, found)
    boots = [line.split()[0] for line in listing.stdout.splitlines()
             if line.strip() and line.split()[0].lstrip("-").isdigit()]
    for offset in sorted({int(b) for b in boots})[-JOURNAL_BOOTS:][::-1]:
        out = tmp / f"journal-boot{offset}.log"
        with open(out, "wb") as f:
            done = subprocess.run(["journalctl", *given, "-b", str(offset),
                                   "-o", "short-monotonic", "--no-pager", "-q"],
                                  stdout=f, stderr=subprocess.PIPE, check=False, pass_fds=fds)
        _note_unreadable(done.stderr.decode("utf-8", "replace"), found)
        found.sources.append((f"journal (boot {offset})", out))


def _note_unreadable(stderr: str, found: TargetEvidence) -> None:
    if "unsupported feature" in stderr or "Protocol not supported" in stderr:
        note = ("Part of the target's journal uses a format newer than this rescue system's "
                "journalctl can read; those files were skipped (use a newer rescue image).")
        if note not in found.notes:
            found.notes.append(note)


def package_history(root: Path, keep: int = 10) -> list[str]:
    """The last package changes each package manager recorded, newest last (read from the
    end of each log, at most MAX_HISTORY_BYTES: what changed last is there)."""
    files = ConfinedRoot(root)
    changes: list[str] = []
    for path, wanted in PACKAGE_LOGS.items():
        try:
            fd = files.open_regular(path)
        except OSError:
            continue
        try:
            start = max(0, os.fstat(fd).st_size - MAX_HISTORY_BYTES)
            os.lseek(fd, start, os.SEEK_SET)
            data = read_fd(fd, MAX_HISTORY_BYTES)
        except OSError:
            continue
        finally:
            os.close(fd)
        lines = data.split(b"\n")[1 if start else 0:]  # a line cut at the start is not whole
        tail: deque[str] = deque(maxlen=keep)
        for raw in lines:
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
