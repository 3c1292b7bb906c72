"""From console text to a diagnosis: which boot failed, how (the class), and the facts."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from rescuetui.core.text import printable
from rescuetui.diagnose.facts import TIMESTAMP, Facts
from rescuetui.diagnose.scanner import Line, interesting_lines, open_evidence
from rescuetui.diagnose.signatures import CLASSES, SIGNATURES, SUSPICIOUS

KERNEL_BANNER = re.compile(r"Linux version \d")
GRUB_BANNER = re.compile(r"GNU GRUB +version")
SWITCHED_ROOT = re.compile(r"Switching root\.|Running /scripts/init-bottom|"
                           r"Run /sbin/init as init process")
REACHED_LOGIN = re.compile(r"\blogin: ?$|Reached target .*Multi-User")
PANIC = re.compile(r"Kernel panic - not syncing")
LOADER_HANDOVER = re.compile(r"Loading (?:Linux \S+|initial ramdisk) \.\.\.")
SUSPICIOUS_RE = re.compile(SUSPICIOUS)
KEPT_HITS = 12  # evidence lines kept for each class in a boot


@dataclass
class Boot:
    """What one boot in the text showed. Only a bounded number of lines is kept."""

    index: int
    first_line: int
    facts: Facts = field(default_factory=Facts)
    hits: dict[str, deque[Line]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    first_hit: dict[str, Line] = field(default_factory=dict)
    panic_line: Line | None = None
    suspicious: deque[Line] = field(default_factory=lambda: deque(maxlen=8))
    saw_grub: bool = False
    saw_kernel: bool = False
    handover: Line | None = None  # GRUB's last "Loading ..." line
    switched_root: bool = False
    reached_login: bool = False

    @property
    def stalled_after_loader(self) -> bool:
        """GRUB handed over to a kernel that never printed a line."""
        return self.handover is not None and not self.saw_kernel and not self.reached_login

    @property
    def failed(self) -> bool:
        """A panic always is a failure; other signs only when the boot never reached login."""
        return self.panic_line is not None or self.stalled_after_loader or (
            bool(self.hits) and not self.reached_login)

    def top_class(self) -> str:
        if not self.hits:
            return "grub" if self.stalled_after_loader else "unknown"
        return max(self.hits, key=lambda c: (_RANK[c], self.counts[c]))


_RANK = {c: max(s.rank for s in SIGNATURES if s.class_id == c) for c in CLASSES if c != "unknown"}


@dataclass
class Diagnosis:
    class_id: str
    source: str
    boot: int  # 1-based boot number in the source
    boots: int
    failed: bool
    reached_login: bool
    facts: Facts
    evidence: list[Line]
    suspicious: list[Line]
    other_classes: dict[str, int]

    @property
    def title(self) -> str:
        return CLASSES[self.class_id].title

    @property
    def meaning(self) -> str:
        return CLASSES[self.class_id].meaning

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.class_id,
            "title": self.title,
            "explanation": self.meaning,
            "source": printable(self.source),
            "boot": self.boot,
            "boots": self.boots,
            "failed": self.failed,
            "reached_login": self.reached_login,
            "facts": self.facts.to_json(),
            "evidence": [{"line": ln.number, "text": printable(ln.text)} for ln in self.evidence],
            "suspicious": [{"line": ln.number, "text": printable(ln.text)}
                           for ln in self.suspicious],
            "other_classes": self.other_classes,
        }


class BootTracker:
    """Feeds lines into boots; keeps the current boot, the last failed one and the last one
    with any sign of trouble."""

    def __init__(self) -> None:
        self.current = Boot(1, 1)
        self.last_failed: Boot | None = None
        self.last_troubled: Boot | None = None

    def _new_boot(self, line: Line) -> None:
        self._close(self.current)
        self.current = Boot(self.current.index + 1, line.number)

    def _close(self, boot: Boot) -> None:
        if boot.failed:
            self.last_failed = boot
        if boot.hits or boot.suspicious:
            self.last_troubled = boot

    def feed(self, line: Line) -> None:
        text = line.text
        boot = self.current
        if GRUB_BANNER.search(text):
            if boot.saw_grub or boot.saw_kernel:
                self._new_boot(line)
            self.current.saw_grub = True
            return
        if KERNEL_BANNER.search(text):
            if boot.saw_kernel:
                self._new_boot(line)
            self.current.saw_kernel = True
            boot = self.current
        boot.facts.absorb(text)
        if LOADER_HANDOVER.search(text):
            boot.handover = line
        if SWITCHED_ROOT.search(text):
            boot.switched_root = True
        if REACHED_LOGIN.search(text):
            boot.reached_login = True
        if PANIC.search(text):
            boot.panic_line = line
        matched = False
        for sig in SIGNATURES:
            if sig.phase == "initrd" and boot.switched_root:
                continue
            if sig.regex.search(text):
                matched = True
                if sig.class_id not in boot.hits:
                    boot.hits[sig.class_id] = deque(maxlen=KEPT_HITS)
                    boot.counts[sig.class_id] = 0
                    boot.first_hit[sig.class_id] = line
                kept = boot.hits[sig.class_id]
                if not kept or kept[-1].number != line.number:
                    kept.append(line)
                    boot.counts[sig.class_id] += 1
        if not matched and SUSPICIOUS_RE.search(text):
            boot.suspicious.append(line)

    def chosen(self) -> Boot:
        """The boot to diagnose: the last that failed, else the last with any trouble."""
        self._close(self.current)
        return self.last_failed or self.last_troubled or self.current


def diagnose_stream(stream: BinaryIO, source: str) -> Diagnosis:
    tracker = BootTracker()
    for line in interesting_lines(stream):
        tracker.feed(line)
    boot = tracker.chosen()
    class_id = boot.top_class()
    evidence: list[Line] = []
    if class_id == "grub" and not boot.hits and boot.handover:
        evidence = [boot.handover]  # and nothing after it: see stalled_after_loader
    elif class_id != "unknown":
        first = boot.first_hit[class_id]
        evidence = [first] + [ln for ln in boot.hits[class_id] if ln.number != first.number]
    if boot.panic_line and all(ln.number != boot.panic_line.number for ln in evidence):
        evidence.append(boot.panic_line)
    evidence.sort(key=lambda ln: ln.number)
    decisive = evidence[0] if evidence else None
    if decisive and (m := TIMESTAMP.match(decisive.text)):
        boot.facts.timestamp = m.group(1)
    return Diagnosis(
        class_id=class_id,
        source=source,
        boot=boot.index,
        boots=tracker.current.index,
        failed=boot.failed,
        reached_login=boot.reached_login,
        facts=boot.facts,
        evidence=evidence,
        suspicious=list(boot.suspicious) if class_id == "unknown" else [],
        other_classes={c: n for c, n in boot.counts.items() if c != class_id},
    )


def diagnose_file(path: Path, name: str | None = None) -> Diagnosis:
    """Diagnose a log file (gzip or plain), streamed."""
    from rescuetui.core.errors import RescueError

    try:
        with open_evidence(path) as stream:
            return diagnose_stream(stream, name or str(path))
    except OSError as exc:
        raise RescueError(f"Cannot read the log {name or path}: {exc.strerror}.") from exc


def primary(diagnoses: list[Diagnosis]) -> Diagnosis | None:
    """The diagnosis to act on: the first source that shows a failure, else the first."""
    failing = [d for d in diagnoses if d.failed and d.class_id != "unknown"]
    return failing[0] if failing else (diagnoses[0] if diagnoses else None)
