"""Safe display of strings that come from a disk: labels, paths, fstab fields, log lines."""

from __future__ import annotations

import io
import re
from typing import BinaryIO, TextIO


def from_disk(raw: bytes) -> str:
    """Decode bytes read from a disk without losing any: undecodable bytes become surrogates."""
    return raw.decode("utf-8", "surrogateescape")


def printable(text: str) -> str:
    """Show `text` verbatim but harmless on a terminal.

    Printable characters, `$(reboot)` and `;rm -rf /` included, are kept as they are: nothing
    here is ever interpreted. Control characters become backslash escapes (`\\n`, `\\x1b`) and
    bytes that are not UTF-8 become `\\xff`, so a hostile label cannot move the cursor, clear the
    screen or pose as a second line.
    """
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte carried by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif not ch.isprintable():
            # control, format (bidi overrides), unassigned, separators other than space
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def ascii_number(text: str) -> int | None:
    """`text` as a number when it is ASCII digits only; else None. (str.isdigit() is true for
    "²" and "٣", which int() rejects or reads: a disk's names must not steer either way.)"""
    return int(text) if text.isascii() and text.isdigit() else None


def without_controls(text: str, keep: str = "") -> str:
    """`text` with only what could act on a terminal escaped (control and format characters,
    undecodable bytes; not those in `keep`); backslashes stay as they are, so text that went
    through printable() already comes out unchanged. For the edges where text of mixed origin
    leaves rescuetui (the root cause note, the command line's streams)."""
    def harmless(ch: str) -> bool:
        return ch in keep or (ch.isprintable() and not 0xDC80 <= ord(ch) <= 0xDCFF)

    if all(harmless(ch) for ch in text):
        return text
    return "".join(ch if harmless(ch) else printable(ch) for ch in text)


def shown(text: str, *, lines: bool = True) -> str:
    """`text` as a screen of the TUI shows it: what is harmless verbatim (backslashes too, so
    text that went through printable() comes out unchanged), every control character (C0 with
    ESC, DEL, C1), format character (bidi overrides and isolates, zero-width joiners), line or
    paragraph separator and undecodable byte escaped, tabs expanded to spaces. Line breaks stay
    when `lines`; a list item or a label is one line, its line breaks escaped too."""
    return without_controls(text, keep="\n\t" if lines else "\t").expandtabs(8)


def markdown_code(text: str) -> str:
    """`text` as a Markdown code span, harmless whatever it holds: controls escaped, and the
    fence one backtick longer than the longest run of backticks inside (CommonMark)."""
    text = without_controls(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


class TerminalGuard(io.TextIOBase):
    """A text stream (stdout, stderr) through which nothing can act on a terminal: whatever is
    written, a disk's label or a command's output line, reaches it with control characters
    escaped except newline and tab. Installed by the command line for every command but the
    TUI (which draws through Textual, its text escaped where it is made)."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(without_controls(text, keep="\n\t"))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.inner.encoding

    @property
    def buffer(self) -> BinaryIO:
        return self.inner.buffer  # type: ignore[attr-defined,no-any-return]
