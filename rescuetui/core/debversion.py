"""Debian version order (deb-version(7)): epoch, then upstream version and revision compared
the way dpkg does, letters before non-letters and `~` before everything, even the end."""

from __future__ import annotations

import functools
import re

_PART = re.compile(r"(\D*)(\d*)")


def _order(ch: str) -> int:
    if ch == "~":
        return -1
    if ch.isalpha():
        return ord(ch)
    return ord(ch) + 256


def _compare_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternating non-digit and digit runs."""
    while a or b:
        na, da, a = _split(a)
        nb, db, b = _split(b)
        for x, y in zip(na.ljust(max(len(na), len(nb)), "\0"),
                        nb.ljust(max(len(na), len(nb)), "\0"), strict=True):
            ox = 0 if x == "\0" else _order(x)
            oy = 0 if y == "\0" else _order(y)
            if ox != oy:
                return -1 if ox < oy else 1
        ia, ib = int(da or 0), int(db or 0)
        if ia != ib:
            return -1 if ia < ib else 1
    return 0


def _split(text: str) -> tuple[str, str, str]:
    m = _PART.match(text)
    assert m is not None
    return m.group(1), m.group(2), text[m.end():]


def parse(version: str) -> tuple[int, str, str]:
    """(epoch, upstream, revision)."""
    epoch, _, rest = version.rpartition(":") if ":" in version else ("0", "", version)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return int(epoch) if epoch.isdigit() else 0, upstream, revision


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as Debian version `a` sorts before, equal to or after `b`."""
    ea, ua, ra = parse(a)
    eb, ub, rb = parse(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)


sort_key = functools.cmp_to_key(compare)
