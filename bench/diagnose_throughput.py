"""Log scanning throughput: `rescuetui diagnose` on a generated 1 GiB log (boot noise, one panic
near the end) against two greps over the same file, in the same run:

- `grep -E -c` with the scanner's own pattern set (every signature, fact and boot marker);
- `grep -E -c` with twenty panic strings, what an operator would type instead. Fifteen are the
  panic messages of the table "Some of the most common kernel panic events" in Microsoft's
  "Kernel panic in Azure Linux VMs" (learn.microsoft.com/troubleshoot/azure/virtual-machines/
  linux/linux-kernel-panic-troubleshooting; the table has fifteen rows), as literal text without
  their placeholders; the other five are quoted by the same vendor's "Azure Linux virtual machine
  fails to boot after applying kernel changes" (kernel-related-boot-issues): the generic
  "Kernel panic - not syncing", GRUB's "error: file '/initramfs-...' not found", dracut's "Boot
  has failed", the loader's "error while loading shared libraries" and the "Call Trace:" line.

Prints the throughputs (median of three interleaved rounds), both ratios (ours against each grep:
above 1 is faster than grep) and the diagnose process's peak resident memory. `rescuetui` runs
as `python -m rescuetui` with this interpreter, so the code measured is the code beside this
file.

Run: `make bench` (or `python bench/diagnose_throughput.py [SIZE_MIB]`).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROUNDS = 3
PANIC_LOG = HERE.parent / "tests/data/serial/library-deleted.log"
# Realistic noise: what a cloud VM's console and journal say on a normal boot.
NOISE = [
    "[    1.{n:06d}] virtio_blk virtio2: [vda] 62914560 512-byte logical blocks (32.2 GB/30.0 GiB)",
    "[    2.{n:06d}] EXT4-fs (vda1): mounted filesystem with ordered data mode. Quota mode: none.",
    "[    3.{n:06d}] systemd[1]: Started systemd-journald.service - Journal Service.",
    "[    4.{n:06d}] systemd[1]: Mounted sys-kernel-config.mount - Kernel Configuration File System.",
    "[    5.{n:06d}] cloud-init[612]: Cloud-init v. 23.1.2 running 'init' at {n} seconds.",
    "[    6.{n:06d}] audit: type=1400 audit({n}.123:2): apparmor=\"STATUS\" operation=\"profile_load\"",
    "[    7.{n:06d}] IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready",
    "[    8.{n:06d}] systemd[1]: Starting apt-daily.service - Daily apt download activities...",
    "Nov 22 07:{m:02d}:{s:02d} vm sshd[{n}]: Accepted publickey for azureuser from 10.0.0.4 port 5",
    "Nov 22 07:{m:02d}:{s:02d} vm CRON[{n}]: (root) CMD (command -v debian-sa1 > /dev/null)",
]
# What an operator types instead of rescuetui: see the module's docstring for where each is from.
PANIC_STRINGS = (
    # The vendor's table, its fifteen rows.
    "Oops: 0000",
    "SysRq: Trigger a crash",
    "kernel BUG at ",
    "softlockup: hung tasks",
    "Watchdog detected hard LOCKUP",
    "hung_task: blocked tasks",
    "panic_on_oom is selected",
    "Out of memory and no killable processes",
    "An NMI occurred, see the Integrated Management Log",
    "NMI IOCK error: Not continuing",
    "NMI: Not continuing",
    "nmi watchdog",
    "Fatal Machine check",
    "Attempted to kill init!",
    "VFS: Unable to mount root fs",
    # The same vendor's kernel boot issues article.
    "Kernel panic - not syncing",
    "error: file '/initramfs-",
    "Boot has failed",
    "error while loading shared libraries",
    "Call Trace:",
)


def generate(path: Path, size: int) -> None:
    lines = []
    for n in range(5000):
        template = NOISE[n % len(NOISE)]
        lines.append(template.format(n=n * 7919 % 1000000, m=n % 60, s=(n * 7) % 60))
    block = ("\n".join(lines) + "\n").encode()
    with open(path, "wb") as f:
        written = 0
        while written < size:
            f.write(block)
            written += len(block)
        f.write(PANIC_LOG.read_bytes())  # the panic, near the end
        f.write(block)


def grep_pattern() -> str:
    """The scanner's pattern set, spelt for grep -E (POSIX ERE with GNU extensions)."""
    sys.path.insert(0, str(HERE.parent))
    from rescuetui.diagnose.scanner import PREFILTER

    pattern = PREFILTER.pattern.decode()
    pattern = pattern.removeprefix("(?m)").replace("(?:", "(").replace(r"\d", "[0-9]")
    return re.sub(r"\\t", "\t", pattern)


def panic_strings_pattern() -> str:
    """The twenty strings as one extended regular expression, as typed at a shell."""
    return "|".join(re.sub(r"([][.*+?(){}|^$\\])", r"\\\1", s) for s in PANIC_STRINGS)


def run(argv: list[str], time_path: Path) -> tuple[float, int, bytes]:
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(time_path), *argv],
                          capture_output=True, check=False)
    seconds = time.perf_counter() - start
    rss_kib = int(time_path.read_text().split()[-1])
    return seconds, rss_kib, done.stdout


def main() -> int:
    size = int(sys.argv[1]) << 20 if len(sys.argv) > 1 else 1 << 30
    with tempfile.TemporaryDirectory(prefix="rescuetui-bench-", dir="/var/tmp") as tmp:
        log = Path(tmp) / "boot.log"
        generate(log, size)
        real = log.stat().st_size
        subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # page cache
        timing = Path(tmp) / "time"
        commands = {
            "ours": [sys.executable, "-m", "rescuetui", "diagnose", "--json", "--log", str(log)],
            "same": ["grep", "-E", "-c", grep_pattern(), str(log)],
            "strings": ["grep", "-E", "-c", panic_strings_pattern(), str(log)],
        }
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        rss: dict[str, int] = dict.fromkeys(commands, 0)
        output: dict[str, bytes] = {}
        for _ in range(ROUNDS):  # interleaved, so drift on the machine hits all alike
            for name, argv in commands.items():
                took, rss_kib, output[name] = run(argv, timing)
                seconds[name].append(took)
                rss[name] = max(rss[name], rss_kib)
    ours, same, strings = (statistics.median(seconds[name]) for name in commands)
    found = b'"init-killed"' in output["ours"]
    print(f"scan a {real / (1 << 30):.2f} GiB log (boot noise, one panic near the end), "
          f"{len(os.sched_getaffinity(0))} CPUs, median of {ROUNDS}")
    print(f"  rescuetui diagnose        {real / ours / 1e6:8.0f} MB/s  {ours:6.2f} s  "
          f"peak RSS {rss['ours'] / 1024:.0f} MiB  class found: {found}")
    print(f"  grep -E -c, same patterns {real / same / 1e6:8.0f} MB/s  {same:6.2f} s  "
          f"peak RSS {rss['same'] / 1024:.0f} MiB  ({int(output['same'])} matching lines)")
    print(f"  grep -E -c, 20 panic strs {real / strings / 1e6:8.0f} MB/s  {strings:6.2f} s  "
          f"peak RSS {rss['strings'] / 1024:.0f} MiB  ({int(output['strings'])} matching lines)")
    print(f"  ratio against the same patterns  {same / ours:5.2f}   "
          "(goal: at least 1.0, RSS < 100 MiB)")
    print(f"  ratio against the panic strings  {strings / ours:5.2f}   (goal: at least 1.0)")
    return 0 if found else 1


if __name__ == "__main__":
    raise SystemExit(main())
