"""Run a full-screen program in a pseudo-terminal of a given size and count what it writes:
how the byte budgets of a serial console are measured (tests and bench/serial_bytes.py)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time
from collections.abc import Sequence


class PtySession:
    def __init__(self, argv: Sequence[str], *, columns: int = 80, lines: int = 24,
                 term: str = "vt220", env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        environ = dict(os.environ if env is None else env)
        environ.update({"TERM": term, "COLUMNS": str(columns), "LINES": str(lines)})
        environ.pop("TEXTUAL", None)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the program, on the pty
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
            os.execvpe(self.argv[0], self.argv, environ)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        self.output = bytearray()

    def read_until_quiet(self, quiet: float = 0.6, timeout: float = 60.0,
                         until: bytes | None = None) -> bytes:
        """What the program writes until it has said nothing for `quiet` seconds (and, with
        `until`, has written that text)."""
        got = bytearray()
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                got += chunk
                last = time.monotonic()
            elif time.monotonic() - last >= quiet and (until is None or until in got):
                break
        self.output += got
        return bytes(got)

    def send(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def close(self, timeout: float = 20.0) -> int:
        """Wait for the program to end (SIGTERM after `timeout`); its exit status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read_until_quiet(quiet=0.1, timeout=0.2)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGTERM)
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


KEYS = {"enter": b"\r", "down": b"\x1b[B", "up": b"\x1b[A", "escape": b"\x1b", "tab": b"\t",
        "f1": b"\x1bOP"}
