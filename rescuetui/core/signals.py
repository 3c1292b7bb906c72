"""Hold the signals that end a run (Ctrl-C, SIGTERM, SIGHUP) while something must not be cut
in half: a session's teardown, the start of a sandbox we must know about to stop it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP for the duration: the first one that comes is recorded
    and raised again, to its own handler, when the block ends. (Python runs signal handlers in
    the main thread only, so only there can they be held.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _: came.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)
        if came:
            signal.raise_signal(came[0])
