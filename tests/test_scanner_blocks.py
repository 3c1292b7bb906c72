"""The scanner reads in blocks, on threads: what it finds, and each line's number, are what a
reading of the whole text at once finds (issue 14: diagnose throughput)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rescuetui.diagnose import scanner
from rescuetui.diagnose.scanner import Line, clean_block, interesting_lines

PARTS = [
    b"Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)",
    b"Attempted to kill init! exitcode=0x00007f00", b"Linux version 6.1.0-50-cloud-amd64 ",
    b"GNU GRUB  version 2.06", b"login: ", b"You are in emergency mode", b"Call Trace:",
    b"[  OK  ] Started systemd-journald.service", b"eth0: link becomes ready", b"error",
    b"\n", b"\r", b"\r\n", b"\n\r", b"\x00", b"\x1b[0m", b"\x1b[0;1;31m", b"\x1b(B", b"\x1b7",
    b"   grub rescue> ", b"Ker", b"nel", b"x" * 300,
]


def whole(raw: bytes) -> list[Line]:
    """The reference: the whole text cleaned at once and scanned as one piece."""
    text = clean_block(raw)
    _, hits = scanner._scan(text, 0, len(text))
    return [Line(number + 1, found) for number, found in hits]


def in_blocks(raw: bytes, block: int, threads: int, monkeypatch: pytest.MonkeyPatch) -> list[Line]:
    monkeypatch.setattr(scanner, "BLOCK", block)
    monkeypatch.setattr(scanner, "_threads", lambda: threads)
    return list(interesting_lines(io.BytesIO(raw)))


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(st.sampled_from(PARTS), max_size=60), block=st.integers(1, 200),
       threads=st.sampled_from([1, 2]))
def test_blocks_and_threads_find_what_the_whole_text_shows(
        parts: list[bytes], block: int, threads: int) -> None:
    raw = b"".join(parts)
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert in_blocks(raw, block, threads, monkeypatch) == whole(raw)


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 4096])
@pytest.mark.parametrize("threads", [1, 2])
def test_crlf_lone_cr_and_escapes_cut_between_reads(
        block: int, threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CRLF, a lone CR and an escape sequence each split by a read: one break each, and the
    words around an escape sequence stay whole."""
    raw = (b"boot\r\n" * 5 + b"progress\rstill\r\n" + b"\x1b[0;1;31mKer\x1b[0mnel panic - not "
           b"syncing: Attempted to kill init!\r\n" + b"Linux version 6.1.0 \r\n" + b"end")
    found = in_blocks(raw, block, threads, monkeypatch)
    assert [(line.number, line.text) for line in found] == [
        (8, "Kernel panic - not syncing: Attempted to kill init!"),
        (9, "Linux version 6.1.0 "),
    ]


def test_many_blocks_on_threads_keep_their_order(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [f"[{n:6d}] systemd[1]: Started session-{n}.scope" + (" error" if n % 97 == 0 else "")
             for n in range(20000)]
    raw = ("\n".join(lines) + "\n").encode()
    found = in_blocks(raw, 4096, 2, monkeypatch)
    assert [line.number for line in found] == [n + 1 for n in range(0, 20000, 97)]
    assert all(line.text.endswith(" error") for line in found)


def test_a_consumer_that_stops_early_leaves_no_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    raw = b"error\n" * 100000
    monkeypatch.setattr(scanner, "BLOCK", 1024)
    monkeypatch.setattr(scanner, "_threads", lambda: 2)
    lines = interesting_lines(io.BytesIO(raw))
    assert next(lines).number == 1
    lines.close()
    assert not [t for t in threading.enumerate() if t.name == "rescuetui-scan"]



def _both(text: bytes, engine: object) -> tuple[object, object]:
    return scanner._scan(text, 0, len(text), engine), scanner._scan(text, 0, len(text), None)


def test_hyperscan_and_re2_find_the_same_lines() -> None:
    """Where the hyperscan package is installed (x86_64) it scans large texts; RE2 scans the
    rest, and everywhere without it. On every console log the tests have (the public corpus,
    the lab's recorded boots) both find the same lines with the same numbers."""
    engine = scanner.hyperscan_database()
    if engine is None:
        pytest.skip("the hyperscan package is not installed here: RE2 scans (the fallback)")
    logs = sorted((Path(__file__).parent / "data").glob("**/*.log"))
    assert len(logs) > 100
    for log in logs:
        found, reference = _both(clean_block(log.read_bytes()), engine)
        assert found == reference, log


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(st.sampled_from(PARTS), max_size=60))
def test_hyperscan_and_re2_agree_on_any_mix(parts: list[bytes]) -> None:
    engine = scanner.hyperscan_database()
    if engine is None:
        pytest.skip("the hyperscan package is not installed here")
    found, reference = _both(clean_block(b"".join(parts)), engine)
    assert found == reference
