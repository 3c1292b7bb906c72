"""Strings from a disk are shown verbatim but can never act on the terminal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rescuetui.core.text import from_disk, printable


def test_shell_metacharacters_are_kept_verbatim() -> None:
    for hostile in ("$(reboot)", ";rm -rf /", "a b", "'quoted'", '"dq"', "`id`", "| tee"):
        assert printable(hostile) == hostile


def test_control_characters_and_bad_bytes_are_escaped() -> None:
    assert printable(from_disk(b"a\xffb\nc")) == "a\\xffb\\nc"
    assert printable("\x1b[2J") == "\\x1b[2J"
    assert printable("tab\there") == "tab\\there"
    assert printable("back\\slash") == "back\\\\slash"


@given(st.binary(max_size=200))
def test_printable_output_has_no_control_characters(raw: bytes) -> None:
    shown = printable(from_disk(raw))
    assert all(ch.isprintable() for ch in shown)
    shown.encode("utf-8")  # always encodable for the terminal and JSON


@given(st.binary(max_size=100))
def test_from_disk_keeps_every_byte(raw: bytes) -> None:
    assert from_disk(raw).encode("utf-8", "surrogateescape") == raw
