"""Commands inside the target run in a sandbox (core/sandbox.py), on real parts: a real Debian
tree on a loop-attached image, a second disk attached beside it, the real bubblewrap and the real
seccomp filter. What the target's own code runs as root there must reach neither another disk,
nor the host's /proc, /run, sysctls or efivarfs."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import rescuetui

from rescuetui.core.sandbox import Sandbox, _compile_filter, seccomp_filter
from rescuetui.lab.disk import BuiltDisk, Part

pytestmark = pytest.mark.root


def test_the_filter_compiles_and_names_what_it_refuses() -> None:
    program = seccomp_filter()
    assert program == _compile_filter()  # the copy kept on /run is the filter of today
    assert len(program) % 8 == 0 and len(program) > 8 * 20  # one BPF instruction is 8 bytes
    argv = Sandbox(Path("/x"), ["/dev/loop9", "/dev/loop9p1"], "/etc/resolv.conf").argv(
        ["true"], seccomp_fd=5)
    assert argv[:4] == ["bwrap", "--bind", "/x", "/"]
    assert ["--dev-bind", "/dev/loop9p1", "/dev/loop9p1"] == argv[argv.index("/dev/loop9p1") - 1:
                                                                  argv.index("/dev/loop9p1") + 2]
    assert "--unshare-pid" in argv and "--new-session" in argv and argv[-2:] == ["--", "true"]


@pytest.fixture
def other_disk(make_disk: Callable[..., BuiltDisk]) -> Iterator[str]:
    """A second disk attached to the host, as a repair VM's own or a customer's other disk."""
    disk = make_disk([Part(None, "ext4", "/")], table="gpt")
    loop = subprocess.run(["losetup", "--find", "--show", str(disk.image)],
                          capture_output=True, text=True, check=True).stdout.strip()
    try:
        yield loop
    finally:
        subprocess.run(["losetup", "-d", loop], check=True)


PROBE = r"""
ls /dev | tr '\n' ' '; echo
echo "loops: $(ls /dev | grep -c '^loop')"
test -e "$1" && echo "OTHER-DISK-VISIBLE"
mkdir -p /tmp/sbx && mount -t devtmpfs none /tmp/sbx 2>/dev/null && echo "MOUNTED-DEVTMPFS"
echo x 2>/dev/null > /proc/sys/kernel/core_pattern && echo "WROTE-CORE-PATTERN"
echo x 2>/dev/null > /sys/kernel/uevent_helper && echo "WROTE-SYSFS"
mknod /tmp/sbx/other b "$2" "$3" 2>/dev/null && dd if=/tmp/sbx/other of=/dev/null bs=512 \
    count=1 2>/dev/null && echo "READ-OTHER-DISK"
echo "run: $(ls -A /run | tr "\n" " ")"
ls /sys/firmware/efi/efivars 2>/dev/null | grep -q . && echo "EFIVARS-VISIBLE"
echo "pids: $(ls /proc | grep -c '^[0-9]')"
test -e "/proc/$4" && echo "HOST-PID-VISIBLE"
cat /proc/1/comm
hostname
"""


def test_a_command_inside_reaches_nothing_of_the_host(debian_image: BuiltDisk, other_disk: str,
                                                      journal_dir: Path) -> None:
    major, minor = (Path(f"/sys/class/block/{other_disk[5:]}/dev").read_text().strip()
                    .split(":"))
    out = rescuetui("run", "--disk", str(debian_image.image), "--rw", "--journal",
                    str(journal_dir), "--", "sh", "-c", PROBE, "probe", other_disk, major, minor,
                    str(os.getpid()))
    text = out.stdout.decode()
    assert out.returncode == 0, out.stderr
    for leak in ("OTHER-DISK-VISIBLE", "MOUNTED-DEVTMPFS", "WROTE-CORE-PATTERN", "WROTE-SYSFS",
                 "READ-OTHER-DISK", "EFIVARS-VISIBLE", "HOST-PID-VISIBLE"):
        assert leak not in text, text
    # A /run of its own (util-linux's mount made /run/mount there), none of the host's.
    run = set(text.split("run: ")[1].splitlines()[0].split())
    assert not run & {p.name for p in Path("/run").iterdir()} - {"mount"}, run
    devices = text.splitlines()[0].split()
    assert {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm"} <= \
        set(devices)
    # The chosen disk's own nodes (the whole disk and its two partitions), nothing else's.
    assert "loops: 3" in text, text
    assert int(text.split("pids: ")[1].split()[0]) <= 8, text  # its own PID namespace
    assert "rescuetui-target" in text
    assert Path("/proc/sys/kernel/core_pattern").read_text().strip() != "x"


def test_the_shell_gets_the_same_sandbox(debian_image: BuiltDisk, journal_dir: Path) -> None:
    """`rescuetui shell` with its standard input a script instead of a terminal."""
    out = rescuetui("shell", "--disk", str(debian_image.image), "--journal", str(journal_dir),
                    input=b"ls /proc | grep -c '^[0-9]'; hostname; exit 0\n")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().split()
    assert "rescuetui-target" in lines and int(lines[lines.index("rescuetui-target") - 1]) <= 4


def test_a_sandbox_we_did_not_see_start_still_goes_at_teardown(
        debian_image: BuiltDisk, journal_dir: Path) -> None:
    """A sandbox whose start we never learnt of (a Ctrl-C cut the start short) has the
    target's root as the root of its own mount namespace, and a pivot_root hides that from
    /proc/PID/root. Teardown finds it by its namespace's root filesystem, stops it, and the
    disk's loop device is detached, read back; a host process with a namespace of its own is
    left alone."""
    from rescuetui.core import loopdev
    from rescuetui.core.session import RescueSession

    bystander = subprocess.Popen(["unshare", "--mount", "--", "sleep", "300"])
    session = RescueSession(journal_base=journal_dir)
    try:
        session.open_target(str(debian_image.image))
        loops = list(session.state.loops)
        # Not the shape core/sandbox.py gives its bubblewrap (argv[1] is not --bind).
        hidden = subprocess.Popen(["bwrap", "--unshare-pid", "--die-with-parent", "--bind",
                                   str(session.root), "/", "--proc", "/proc", "--dev", "/dev",
                                   "sleep", "300"], start_new_session=True)
        deadline = time.monotonic() + 10
        while not _started_under(hidden.pid, "sleep") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _started_under(hidden.pid, "sleep"), "the hidden sandbox never started"
    finally:
        problems = session.close()
    try:
        assert problems == []
        assert loops and not any(loopdev.is_bound(loop) for loop in loops)
        assert hidden.wait(timeout=10) != 0
        assert bystander.poll() is None, "a host process in its own namespace was stopped"
    finally:
        bystander.kill()
        bystander.wait()
        if hidden.poll() is None:
            hidden.kill()


def _started_under(pid: int, name: str) -> bool:
    """Whether a process named `name` runs among `pid`'s descendants."""
    out = subprocess.run(["pgrep", "-a", name], capture_output=True, text=True).stdout
    for line in out.splitlines():
        child = line.split()[0]
        while child not in ("0", "1"):
            if child == str(pid):
                return True
            try:
                child = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[1]
            except OSError:
                break
    return False
