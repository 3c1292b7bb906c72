"""Time from launch to the first screen on the terminal: `rescuetui --disk IMG` on the practice
image against a bare Textual app showing one Static, both at 80x24 under TERM=vt220 in a
pseudo-terminal, interleaved over several rounds. Prints the medians and the ratio (issue 14).

The clock runs from just before the fork to the moment the first screen's text has been read
from the terminal (escape sequences taken out), so it counts the interpreter, the imports, the
app's start-up and the first paint: what an operator waits for.

Run as root: `make bench` (builds the practice image from the cached Debian tree if needed).
`--rounds N` changes the number of rounds; `--image IMG` uses an image already built.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rescuetui.lab.pty import PtySession

ROUNDS = 7
# What each first screen shows, all of it: its title line, its body and its key line.
RESCUETUI_SCREEN = (b"1/7 Start", b"This program will:", b"Enter Start")
BARE_SCREEN = (b"A bare Textual app", b"showing one Static")
BARE_APP = """\
from textual.app import App
from textual.widgets import Static


class Bare(App[None]):
    def compose(self):
        yield Static("A bare Textual app\\nshowing one Static")


Bare().run()
"""
ESCAPES = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|.)")


def environment() -> dict[str, str]:
    """The caller's environment without Textual's settings (rescuetui sets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}


def first_screen(argv: list[str], wanted: tuple[bytes, ...], quit_key: bytes,
                 timeout: float = 60.0) -> float:
    """Seconds from launch until every one of `wanted` is on the terminal; then the program
    is asked to quit and waited for."""
    start = time.perf_counter()
    session = PtySession(argv, columns=80, lines=24, term="vt220", env=environment())
    got = bytearray()
    seen = 0.0
    try:
        deadline = start + timeout
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([session.fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(session.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
            text = ESCAPES.sub(b"", bytes(got))
            if all(w in text for w in wanted):
                seen = time.perf_counter() - start
                break
        if not seen:
            raise RuntimeError(f"{argv[0]} ...: no first screen in {timeout:.0f} s; it wrote "
                               f"{ESCAPES.sub(b'', bytes(got))[-400:]!r}")
    finally:
        session.send(quit_key)
        status = session.close(timeout=30)
    if status != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with status {status}")
    return seen


def loop_devices_of(image: Path) -> str:
    return subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True,
                          check=False).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--image", type=Path, help="a practice image already built")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rescuetui-bench-") as tmp:
        image = args.image
        if image is None:
            from rescuetui.lab.debian import two_partition_image

            image = Path(tmp) / "bench.img"
            two_partition_image(image)
        ours = [sys.executable, "-m", "rescuetui", "--disk", str(image),
                "--journal", str(Path(tmp) / "journal")]
        bare = [sys.executable, "-c", BARE_APP]
        runs = {"rescuetui --disk IMG": (ours, RESCUETUI_SCREEN, b"q"),
                "bare Textual app": (bare, BARE_SCREEN, b"\x11")}  # Ctrl+Q quits a bare app
        for argv, wanted, quit_key in runs.values():  # warm the page cache for both
            first_screen(argv, wanted, quit_key)
        results: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):  # interleaved, so drift on the machine hits both alike
            for name, (argv, wanted, quit_key) in runs.items():
                results[name].append(first_screen(argv, wanted, quit_key))
        left = loop_devices_of(image)
    medians = {name: statistics.median(times) for name, times in results.items()}
    print(f"launch to the first screen on the terminal, 80x24, TERM=vt220, median of "
          f"{args.rounds} (two-partition Debian 12 image)")
    for name, median in medians.items():
        print(f"  {name:<22} {median * 1000:7.1f} ms   (min {min(results[name]) * 1000:.1f} ms, "
              f"max {max(results[name]) * 1000:.1f} ms)")
    ratio = medians["rescuetui --disk IMG"] / medians["bare Textual app"]
    print(f"  ratio                  {ratio:7.2f}x   (goal: within 1.5x)")
    if left:
        print(f"  LEFT BEHIND after quitting: {left.strip()}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
