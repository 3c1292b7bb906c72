"""Streams console text of any size and finds the lines worth a look, in constant memory.

A log of gigabytes is read in blocks; one combined RE2 pattern (a linear-time automaton, so a
block is scanned at about the speed of grep) picks the few lines that can matter, and only
those lines are cleaned and handed on. Everything else is never decoded.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import re2

from rescuetui.diagnose.facts import FACT_PATTERNS
from rescuetui.diagnose.signatures import SIGNATURES, SUSPICIOUS

BLOCK = 4 << 20
MAX_LINE = 64 << 10  # longer "lines" (binary junk) are cut into pieces of this size
CONTEXT_PATTERNS = (
    r"Linux version \d", r"GNU GRUB +version", r"Switching root\.",
    r"Running /scripts/init-bottom", r"Run /sbin/init as init process", r"\blogin: ?$",
    r"Reached target .*Multi-User", r"Loading initial ramdisk",
)
_ANSI = re2.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b[=>78cDEHM]")


def _prefilter() -> re2._Regexp:
    patterns = [s.pattern for s in SIGNATURES] + list(FACT_PATTERNS) + list(CONTEXT_PATTERNS)
    patterns.append(SUSPICIOUS)
    joined = "(?m)" + "|".join(f"(?:{p})" for p in patterns)
    options = re2.Options()
    options.max_mem = 256 << 20
    return re2.compile(joined.encode(), options)


PREFILTER = _prefilter()


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, counted in the cleaned text (CRLF and lone CR count as one break)
    text: str


def clean_block(raw: bytes) -> bytes:
    """NULs, escape sequences and carriage returns out; a lone CR becomes a line break."""
    if b"\x00" in raw:
        raw = raw.replace(b"\x00", b"")
    if b"\x1b" in raw:
        raw = _ANSI.sub(b"", raw)
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return raw


def open_evidence(path: Path) -> BinaryIO:
    """A file as a byte stream; gzip (rotated logs) is decompressed on the fly."""
    f = open(path, "rb")  # noqa: SIM115 - handed to the caller
    if f.read(2) == b"\x1f\x8b":
        f.seek(0)
        return gzip.GzipFile(fileobj=f)  # type: ignore[return-value]
    f.seek(0)
    return f


def interesting_lines(stream: BinaryIO | io.BufferedIOBase) -> Iterator[Line]:
    """Lines of `stream` that match a signature, a fact or a boot marker, with their numbers."""
    number = 0  # lines before the current block
    carry = b""
    while True:
        raw = stream.read(BLOCK)
        if not raw:
            break
        block = carry + clean_block(raw)
        cut = block.rfind(b"\n") + 1
        if cut == 0 and len(block) < MAX_LINE:
            carry = block
            continue
        if cut == 0:
            cut = len(block)  # one enormous line: take it in pieces
        body, carry = block[:cut], block[cut:]
        yield from _matches(body, number)
        number += body.count(b"\n")  # a piece of a cut line continues that line
    if carry:
        yield from _matches(carry, number)


def _matches(body: bytes, first: int) -> Iterator[Line]:
    counted_to = 0
    number = first
    last_start = -1
    for match in PREFILTER.finditer(body):
        start = body.rfind(b"\n", 0, match.start()) + 1
        if start == last_start:
            continue  # one report a line, however many patterns it matches
        last_start = start
        end = body.find(b"\n", match.end())
        end = len(body) if end < 0 else end
        number += body.count(b"\n", counted_to, start)
        counted_to = start
        text = body[start:min(end, start + MAX_LINE)].decode("utf-8", "replace")
        yield Line(number + 1, text)
