"""Time to a mounted chroot and back: `rescuetui run --disk IMG -- true` against a shell script
doing the same by hand (bench/reference_mount_chroot.sh). Prints both and the ratio, and what no
run can go below: the interpreter, the interpreter with the standard modules any command line of
this kind imports (options, paths, records, JSON, child processes, ctypes for mount and openat2),
and with the modules `run` imports (the command line and the session). `rescuetui` runs as
`python -m rescuetui` with this interpreter, so the code measured is the code beside this file.

Run as root: `make bench` (builds the practice image from the cached Debian tree if needed).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from side_by_side import print_medians

HERE = Path(__file__).resolve().parent
ROUNDS = 7


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    from rescuetui.lab.debian import two_partition_image

    with tempfile.TemporaryDirectory(prefix="rescuetui-bench-") as tmp:
        image = Path(tmp) / "bench.img"
        two_partition_image(image)
        journal = Path(tmp) / "journal"
        ours = [sys.executable, "-m", "rescuetui", "run", "--disk", str(image),
                "--journal", str(journal), "--", "true"]
        reference = ["sh", str(HERE / "reference_mount_chroot.sh"), str(image)]
        # What no Python program can go below: the interpreter, and loading the modules `run`
        # imports (the command line, the session and what the session opens the disk with).
        interpreter = [sys.executable, "-c", "pass"]
        # The standard library a command line like this one cannot do without: its options,
        # paths, records, JSON journal, child processes and the mount and openat2 calls.
        stdlib = [sys.executable, "-c",
                  "import argparse, pathlib, dataclasses, json, subprocess, selectors, ctypes"]
        imports = [sys.executable, "-c",
                   "import rescuetui.cli, rescuetui.core.session, rescuetui.core.runner, selectors"]
        timed(ours), timed(reference)  # warm the page cache for both
        results: dict[str, list[float]] = {"rescuetui run": [], "shell script": [],
                                           "python -c pass": [], "stdlib floor": [],
                                           "imports only": []}
        for _ in range(ROUNDS):  # interleaved, so drift on the machine hits both alike
            results["rescuetui run"].append(timed(ours))
            results["shell script"].append(timed(reference))
            results["python -c pass"].append(timed(interpreter))
            results["stdlib floor"].append(timed(stdlib))
            results["imports only"].append(timed(imports))
    print_medians(f"mount + chroot true + teardown, median of {ROUNDS} (two-partition Debian 12 "
                  "image)", results, scale=1000, unit="ms", width=15, goal="within 2x")
    script = statistics.median(results["shell script"])
    for floor in ("stdlib floor", "imports only"):
        print(f"  {floor + ' / script':<24} {statistics.median(results[floor]) / script:5.2f}x"
              "   (before any work)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
