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


def test_root_cause_note_carries_no_control_character_and_code_spans_hold() -> None:
    """A report whose strings came from a hostile disk (an escape sequence in the log's name,
    backticks in a path): rca.md has every control escaped and each code span closed."""
    from rescuetui.core.text import markdown_code, without_controls
    from rescuetui.fixes.rca import rca_markdown

    assert markdown_code("a`b") == "``a`b``" and markdown_code("`x") == "`` `x ``"
    assert without_controls("line\x1b[2J\\x1b") == "line\\x1b[2J\\x1b"
    hostile = "/var/log/boot.log\x1b]0;pwned\x07 `$(reboot)`"
    report = {
        "diagnosis": {"title": "Kernel panic", "class": "vfs-root", "kernel": "6.1\x1b[31m",
                      "source": hostile},
        "path": [], "way": "Way out: \x9b31m", "refused": ["no \x07"],
        "remaining": [{"summary": "still \x1b[0m"}], "journal": "/var/log/rescuetui/x",
        "applied": [{"fix": "fsck", "verified": True,
                     "plan": {"why": f"found in {hostile}", "edits": [],
                              "steps": [{"argv": ["xfs_repair", "/dev/mapper/a`b"]}]},
                     "verification": {"check": "filesystem", "summary": "clean \x1b[K"}}],
    }
    note = rca_markdown(report)
    assert not any(ch in note for ch in "\x1b\x07\x9b"), note
    assert "from `` /var/log/boot.log\\x1b]0;pwned\\x07 `$(reboot)` ``." in note
    assert "``xfs_repair /dev/mapper/a`b``" in note


def test_the_command_lines_streams_escape_whatever_is_written() -> None:
    """The guard the CLI puts on stdout and stderr: a command's output line or a label with an
    escape sequence, a carriage return, a C1 control, comes out escaped; lines and tabs stay."""
    import io

    from rescuetui.core.text import TerminalGuard

    inner = io.StringIO()
    guard = TerminalGuard(inner)  # type: ignore[arg-type]
    guard.write("dracut: \x1b[2Jdone\r\n\tnext \x9b31m line\n")
    guard.write(printable("already \x1b escaped") + "\n")
    assert inner.getvalue() == ("dracut: \\x1b[2Jdone\\r\n\tnext \\x9b31m line\n"
                                "already \\x1b escaped\n")


def test_shown_escapes_what_could_act_or_disguise_and_keeps_lines_and_backslashes() -> None:
    """What the TUI shows (core.text.shown): C0 with ESC, DEL, C1, bidi overrides and isolates,
    zero-width and line separators escaped; tabs expanded; lines kept unless it is one line;
    text that went through printable() unchanged (no doubled backslashes)."""
    from rescuetui.core.text import shown

    hostile = "a\x1b]0;t\x07\x7f\x9b\u202e\u2066\u200d\u2028b\nc"
    assert shown(hostile) == "a\\x1b]0;t\\x07\\x7f\\x9b\\u202e\\u2066\\u200d\\u2028b\nc"
    assert shown("\tb\r") == "        b\\r"
    assert shown("x\ny", lines=False) == "x\\ny"
    assert shown(printable("\x1b[2J\\")) == printable("\x1b[2J\\")
    assert shown("[@click=app.quit]x[/] $(reboot)") == "[@click=app.quit]x[/] $(reboot)"


@given(st.text(max_size=200))
def test_shown_leaves_nothing_that_is_not_printable_but_line_breaks(text: str) -> None:
    from rescuetui.core.text import shown

    assert all(line.isprintable() for line in shown(text).split("\n"))
    assert shown(text, lines=False).isprintable()
