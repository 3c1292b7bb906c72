"""Streams console text of any size and finds the lines worth a look, in constant memory.

A log of gigabytes is read in blocks; every pattern at once picks the few lines that can
matter, and only those lines are decoded and handed on. The patterns are compiled into one
Hyperscan database where the hyperscan package is installed (Intel's multi-pattern engine:
literal factors found with SIMD, then automata only around them; about four times RE2's
speed on a console log, measured on this project's bench), else into one combined RE2 pattern
(a linear-time automaton that looks at every byte). The engine is most of the cost of a large
log (the rest is counting line feeds and a few memchr tests a block), and both let go of the
interpreter while they run: blocks are scanned on as many threads as there are CPUs, a few
blocks ahead of the reader at most, and their lines handed on in order. The two engines find
the same lines (tests/test_scanner_blocks.py compares them on every log the tests have).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import itertools
import os
import re
import threading
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import SimpleQueue
from typing import BinaryIO

import re2

from rescuetui.diagnose.facts import FACT_PATTERNS
from rescuetui.diagnose.signatures import SIGNATURES, SUSPICIOUS

BLOCK = 4 << 20
MAX_LINE = 64 << 10  # longer "lines" (binary junk) are cut into pieces of this size
MAX_THREADS = 4
HYPERSCAN_CACHE = Path(os.environ.get("RESCUETUI_CACHE", "/var/cache/rescuetui"))
CONTEXT_PATTERNS = (
    r"Linux version \d", r"GNU GRUB +version", r"Switching root\.",
    r"Running /scripts/init-bottom", r"Run /sbin/init as init process", r"\blogin: ?$",
    r"Reached target .*Multi-User", r"Loading initial ramdisk",
)
# Python's own engine here: its substitution runs in C, where the RE2 binding's substitutes match
# by match in Python (2 MB/s on a coloured console against 50 and more). One star over a class
# that cannot hold ESC keeps it linear on any input.
_ANSI = re.compile(rb"\x1b(?:\[[0-9;?]*[A-Za-z]|[()][0-9A-Za-z]|[=>78cDEHM])")
_ANSI_START = re.compile(rb"\x1b(?:\[[0-9;?]*|[()])?")  # what the next bytes may complete
ESCAPE_TAIL = 64


def _patterns() -> list[str]:
    return ([s.pattern for s in SIGNATURES] + list(FACT_PATTERNS) + list(CONTEXT_PATTERNS)
            + [SUSPICIOUS])


def _prefilter() -> re2._Regexp:
    joined = "(?m)" + "|".join(f"(?:{p})" for p in _patterns())
    options = re2.Options()
    options.max_mem = 256 << 20
    return re2.compile(joined.encode(), options)


def hyperscan_database() -> object | None:
    """The patterns as one Hyperscan database (multi-line: ^ and $ at line breaks), compiled
    the first time a text is large enough to pay for it (about 0.2 s); None where the package
    is not installed (it ships for x86_64), refuses a pattern, or RESCUETUI_SCANNER=re2."""
    if "db" not in _hyperscan:
        _hyperscan["db"] = _compile_hyperscan()
    return _hyperscan["db"]


def _compile_hyperscan() -> object | None:
    """Compiled once per set of patterns and kept in the cache directory (loading it takes a
    millisecond, compiling 0.2 s); compiled in memory where that cannot be written."""
    if os.environ.get("RESCUETUI_SCANNER") == "re2":
        return None
    try:
        import hyperscan
    except ImportError:
        return None
    patterns = _patterns()
    key = hashlib.sha256("\0".join([getattr(hyperscan, "__version__", ""), *patterns])
                         .encode()).hexdigest()[:16]
    cached = HYPERSCAN_CACHE / f"scanner-{key}.hsdb"
    with contextlib.suppress(OSError, hyperscan.error, ValueError, TypeError):
        return hyperscan.loadb(cached.read_bytes(), hyperscan.HS_MODE_BLOCK)
    database = hyperscan.Database()
    try:
        database.compile(expressions=[p.encode() for p in patterns],
                         ids=list(range(len(patterns))), elements=len(patterns),
                         flags=[hyperscan.HS_FLAG_MULTILINE] * len(patterns))
    except hyperscan.error:
        return None
    with contextlib.suppress(OSError):  # a read-only medium: compiled each time
        HYPERSCAN_CACHE.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(hyperscan.dumpb(database))
        os.replace(partial, cached)
    return database


PREFILTER = _prefilter()
_hyperscan: dict[str, object | None] = {}
_scratch = threading.local()  # Hyperscan needs scratch space of its own per thread


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, counted in the cleaned text (CRLF and lone CR count as one break)
    text: str


def clean_block(raw: bytes) -> bytes:
    """NULs, escape sequences and carriage returns out; a lone CR becomes a line break.

    Each test is a memchr, and a block without any of them is handed back as it is. The reader
    cleans block by block and gets what cleaning the whole text would give: it ends a block
    nowhere inside a CRLF or an escape sequence (see `_cut`).
    """
    return _line_feeds(_without_escapes(_without_nuls(raw)))


def _without_nuls(raw: bytes) -> bytes:
    return raw.replace(b"\x00", b"") if b"\x00" in raw else raw


def _without_escapes(raw: bytes) -> bytes:
    return _ANSI.sub(b"", raw) if b"\x1b" in raw else raw


def _line_feeds(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in raw else raw


def _cut(raw: bytes) -> int:
    """Where a block read so far (its NULs and whole escape sequences out) may end: before an
    escape sequence the next read may complete (one longer than ESCAPE_TAIL is junk, and is
    cut), and before a CR just before that (its LF may follow)."""
    end = len(raw)
    escape = raw.rfind(b"\x1b", max(0, end - ESCAPE_TAIL))
    if escape >= 0 and _ANSI_START.fullmatch(raw, escape):
        end = escape
    return end - 1 if raw.endswith(b"\r", 0, end) else end


def open_evidence(path: Path) -> BinaryIO:
    """A file as a byte stream; gzip (rotated logs) is decompressed on the fly."""
    f = open(path, "rb")  # noqa: SIM115 - handed to the caller
    if f.read(2) == b"\x1f\x8b":
        f.seek(0)
        return gzip.GzipFile(fileobj=f)  # type: ignore[return-value]
    f.seek(0)
    return f


# A run of whole lines (or a piece of one enormous line): buffer, start, end. The buffer is
# a block as read, never copied to cut the run out of it.
Piece = tuple[bytes, int, int]
# What a piece holds: its line breaks, and (line index in the piece, text) of each hit.
Found = tuple[int, list[tuple[int, str]]]


def interesting_lines(stream: BinaryIO | io.BufferedIOBase) -> Iterator[Line]:
    """Lines of `stream` that match a signature, a fact or a boot marker, with their numbers."""
    number = 0  # lines before the current piece
    with contextlib.closing(_found(stream)) as found:
        for breaks, hits in found:
            for offset, text in hits:
                yield Line(number + offset + 1, text)
            number += breaks


def _found(stream: BinaryIO | io.BufferedIOBase) -> Generator[Found, None, None]:
    """What each piece of the text holds, in the text's order."""
    pieces = _pieces(stream)
    first = list(itertools.islice(pieces, 2))
    large = len(first) > 1
    threads = _threads() if large else 1  # a short text starts no thread
    engine = hyperscan_database() if large else None  # nor pays for compiling Hyperscan
    if threads < 2:
        yield from (_scan(*piece, engine) for piece in itertools.chain(first, pieces))
        return
    pool = _ScanPool(threads, engine)
    pending: deque[SimpleQueue[Found | BaseException]] = deque()
    try:
        for piece in itertools.chain(first, pieces):
            pending.append(pool.submit(piece))
            if len(pending) > threads:  # a few blocks ahead, no more: memory stays flat
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    finally:
        pool.close()


def _threads() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return min(cpus, MAX_THREADS)


def _pieces(stream: BinaryIO | io.BufferedIOBase) -> Iterator[Piece]:
    """The text in runs of whole lines, cleaned, each block cut after its last line feed."""
    carry = b""  # the cleaned start of a line that goes on in the next block
    held = b""  # raw bytes that the next read may complete (see _cut)
    while True:
        more = stream.read(BLOCK)
        if not more and not held:
            break
        raw, held = _without_escapes(held + _without_nuls(more)), b""
        if more and (cut := _cut(raw)) < len(raw):
            raw, held = raw[:cut], raw[cut:]
        block = _line_feeds(raw)
        first = block.find(b"\n")
        if first < 0:
            carry += block
            if len(carry) >= MAX_LINE:  # one enormous line: take it in pieces
                yield carry, 0, len(carry)
                carry = b""
            continue
        start = 0
        if carry:  # the line that runs over the last read: the only bytes copied
            head = carry + block[:first + 1]
            yield head, 0, len(head)
            start = first + 1
        last = block.rfind(b"\n") + 1
        if last > start:
            yield block, start, last
        carry = block[last:]
    if carry:
        yield carry, 0, len(carry)


def _match_ends(buf: bytes, start: int, end: int, engine: object | None) -> Iterator[int]:
    """Where matches in buf[start:end] end (offsets in buf), in order: a line holds a match
    when one ends in it. `engine`: a Hyperscan database, or None for RE2."""
    if engine is None:
        for match in PREFILTER.finditer(buf, start, end):
            yield max(match.end(), match.start() + 1)
        return
    ends: list[int] = []

    def found(_id: int, _from: int, to: int, _flags: int, _context: object) -> None:
        ends.append(to)

    scratch = getattr(_scratch, "scratch", None)
    if scratch is None:
        import hyperscan

        scratch = _scratch.scratch = hyperscan.Scratch(engine)  # type: ignore[arg-type]
    window = buf[start:end] if (start, end) != (0, len(buf)) else buf
    engine.scan(window, match_event_handler=found, scratch=scratch)  # type: ignore[attr-defined]
    yield from (start + max(to, 1) for to in sorted(ends))


def _scan(buf: bytes, start: int, end: int, engine: object | None = None) -> Found:
    """The hits in buf[start:end] (whole lines), numbered from 0 at `start`."""
    hits: list[tuple[int, str]] = []
    counted_to = start
    number = 0
    last_start = -1
    for match_end in _match_ends(buf, start, end, engine):
        line_start = max(buf.rfind(b"\n", start, match_end - 1) + 1, start)
        if line_start == last_start:
            continue  # one report a line, however many patterns it matches
        last_start = line_start
        line_end = buf.find(b"\n", match_end - 1, end)
        line_end = end if line_end < 0 else line_end
        number += buf.count(b"\n", counted_to, line_start)
        counted_to = line_start
        text = buf[line_start:min(line_end, line_start + MAX_LINE)].decode("utf-8", "replace")
        hits.append((number, text))
    return number + buf.count(b"\n", counted_to, end), hits


def _result(box: SimpleQueue[Found | BaseException]) -> Found:
    found = box.get()
    if isinstance(found, BaseException):
        raise found
    return found


class _ScanPool:
    """Threads that scan pieces; each answer comes back in the box given with its piece."""

    def __init__(self, threads: int, engine: object | None) -> None:
        self._engine = engine
        self._tasks: SimpleQueue[tuple[Piece, SimpleQueue[Found | BaseException]] | None]
        self._tasks = SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name="rescuetui-scan", daemon=True)
                         for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, piece: Piece) -> SimpleQueue[Found | BaseException]:
        box: SimpleQueue[Found | BaseException] = SimpleQueue()
        self._tasks.put((piece, box))
        return box

    def close(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            piece, box = task
            try:
                box.put(_scan(*piece, self._engine))
            except BaseException as exc:  # handed to the reader, which raises it
                box.put(exc)
