"""Time to repair a deleted initramfs: `rescuetui repair --yes` on the initramfs-deleted practice
disk against the fix by hand (bench/reference_repair_initramfs.sh: mount the root and its fstab
tree, bind /dev, /proc and /sys, chroot depmod and update-initramfs for the kernel, unmount).
Each round repairs a fresh copy of the same broken disk with each, interleaved. Prints both, the
ratio, and where rescuetui's time went in its last run (from its journal: the time before each
record is put on that record's step).

`rescuetui` runs as `python -m rescuetui` with this interpreter, so the code measured is the code
beside this file. Run as root: `make bench` (or `python bench/repair_initramfs.py [ROUNDS]`);
the practice base is built from the cached Debian tree when missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from side_by_side import print_medians

HERE = Path(__file__).resolve().parent


def copy(source: Path, target: Path) -> None:
    subprocess.run(["cp", "--sparse=always", str(source), str(target)], check=True)


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.buffer.write(done.stdout + done.stderr)
        raise SystemExit(f"{argv[0]} ... failed with exit status {done.returncode}")
    return seconds


def where_time_went(journal: Path) -> list[tuple[str, float]]:
    """Seconds by step of the session journaled under `journal`: each record takes the time since
    the record before it (a check's own run, a command's run and what led to it)."""
    records = [json.loads(line) for line in next(journal.glob("*/journal.jsonl")).open()]
    after_fix = False
    spent: dict[str, float] = defaultdict(float)
    for before, record in zip(records, records[1:], strict=False):
        kind = record["kind"]
        if kind == "command":
            name = f"command {record['argv'][0]}"
            after_fix = after_fix or record["argv"][0] != "e2fsck"
        elif kind == "check":
            name = f"check {record['check']}" + (" (again, after the fix)" if after_fix else "")
        else:
            name = kind
        spent[name] += record["time"] - before["time"]
    return sorted(spent.items(), key=lambda item: -item[1])


def main() -> int:
    from rescuetui.lab.scenario import build_scenario
    from rescuetui.lab.scenarios import SCENARIOS

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    results: dict[str, list[float]] = {"rescuetui repair": [], "by hand": []}
    with tempfile.TemporaryDirectory(prefix="rescuetui-bench-", dir="/var/tmp") as tmp:
        broken = Path(tmp) / "initramfs-deleted.img"
        build_scenario(SCENARIOS["initramfs-deleted"], broken, journal_base=Path(tmp) / "build")
        work = Path(tmp) / "work.img"
        journal = Path(tmp) / "journal"
        for n in range(rounds):
            journal = Path(tmp) / f"journal-{n}"
            copy(broken, work)
            results["rescuetui repair"].append(timed(
                [sys.executable, "-m", "rescuetui", "repair", "--disk", str(work), "--yes",
                 "--journal", str(journal)]))
            copy(broken, work)
            results["by hand"].append(timed(
                ["sh", str(HERE / "reference_repair_initramfs.sh"), str(work)]))
        steps = where_time_went(journal)
    print_medians(f"rebuild a deleted initramfs (initramfs-deleted practice disk), median of "
                  f"{rounds}", results)
    print("where rescuetui's last run spent its time:")
    for name, seconds in steps:
        if seconds >= 0.05:
            print(f"  {seconds:6.2f} s  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
