"""Safe display of strings that come from a disk: labels, paths, fstab fields, log lines."""

from __future__ import annotations


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
