"""The serial-console byte budget, measured in a pseudo-terminal at 80x24: bytes of the first
complete screen, bytes per highlight move in a list, bytes per second of streamed command
output, and whether every character is ASCII or in the VGA console font (CP437).

Used by tests/test_serial_budget.py (the budgets asserted) and bench/serial_bytes.py (the
numbers printed beside whiptail's for the same kind of menu move)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rescuetui.lab.pty import KEYS, PtySession

FIRST_SCREEN_BUDGET = 6 * 1024
MOVE_BUDGET = 600
STREAM_BUDGET = 4 * 1024  # bytes per second


@dataclass
class Measured:
    first_screen: int = 0
    moves: list[int] = field(default_factory=list)
    stream_bytes: int = 0
    stream_seconds: float = 0.0
    keystrokes_to_verified: int = 0
    verified: bool = False
    non_cp437: set[str] = field(default_factory=set)
    exit_status: int | None = None

    @property
    def stream_rate(self) -> float:
        return self.stream_bytes / self.stream_seconds if self.stream_seconds else 0.0


def non_cp437(output: bytes) -> set[str]:
    bad = set()
    for ch in set(output.decode("utf-8", "replace")):
        if ord(ch) > 127:
            try:
                ch.encode("cp437")
            except UnicodeEncodeError:
                bad.add(ch)
    return bad


def measure_rescuetui(exe: str, disk: Path, term: str = "vt220",
                      journal: Path | None = None) -> Measured:
    """Launch `rescuetui --disk DISK` and go to a verified fix as an operator would."""
    argv = [exe, "--disk", str(disk)] + (["--journal", str(journal)] if journal else [])
    session = PtySession(argv, term=term)
    m = Measured()
    keys = 0

    def press(key: str, until: bytes | None = None, quiet: float = 1.0,
              timeout: float = 120.0, step: bool = True) -> bytes:
        """`step`: the key is a step of the repair (looking around in a list is not)."""
        nonlocal keys
        keys += step
        session.send(KEYS.get(key, key.encode()))
        return session.read_until_quiet(quiet=quiet, until=until, timeout=timeout)

    try:
        m.first_screen = len(session.read_until_quiet(quiet=1.5, until=b"Enter Start"))
        press("enter", until=b"Installed systems", quiet=1.0)
        press("enter", until=b"read the evidence", quiet=1.0)
        press("enter", until=b"Where is the evidence", quiet=1.0)
        for key in ("down", "down", "up", "up"):  # the evidence menu: highlight moves
            m.moves.append(len(press(key, quiet=0.8, step=False)))
        press("enter", until=b"check the system", quiet=1.0)
        press("enter", until=b"Enter shows what it will do", quiet=1.0, timeout=300)
        press("enter", until=b"y applies this fix", quiet=1.0)
        start = time.monotonic()
        streamed = press("y", until=b"Enter: the report", quiet=1.0, timeout=900)
        m.stream_seconds = time.monotonic() - start
        m.stream_bytes = len(streamed)
        m.verified = b"VERIFIED" in streamed
        m.keystrokes_to_verified = keys
        session.send(KEYS["enter"])
        session.read_until_quiet(quiet=1.0, until=b"Journal:")
        session.send(b"q")
    finally:
        m.exit_status = session.close()
    m.non_cp437 = non_cp437(bytes(session.output))
    return m


def measure_whiptail(term: str = "vt220") -> Measured:
    """whiptail's menu of the same size: its first screen and its bytes per highlight move."""
    argv = ["whiptail", "--title", "Evidence", "--menu", "Where is the evidence?", "15", "70",
            "3", "1", "Use the system's own logs (journal, kern.log, kdump)",
            "2", "Paste the console text of the failure",
            "3", "Read a log file (serial console log)"]
    session = PtySession(argv, term=term)
    m = Measured()
    try:
        m.first_screen = len(session.read_until_quiet(quiet=1.0))
        for key in ("down", "down", "up", "up"):
            session.send(KEYS[key])
            m.moves.append(len(session.read_until_quiet(quiet=0.5)))
        session.send(KEYS["escape"])
    finally:
        m.exit_status = session.close()
    m.non_cp437 = non_cp437(bytes(session.output))
    return m
