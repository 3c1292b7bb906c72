"""The command line on a real Debian 12 disk image (debootstrap'd, /boot on its own partition):
chroot commands, scan --json, the journal, change manifests, undo, and cleanup after kill -9."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import rescuetui, rescuetui_exe

from rescuetui.core.confined import ConfinedRoot
from rescuetui.core.journal import Journal
from rescuetui.core.mountinfo import current_mounts
from rescuetui.core.session import RescueSession
from rescuetui.lab.disk import BuiltDisk

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(autouse=True)
def state_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A state directory of this test's own (on /run, outside pytest's temporary tree, which
    is removed recursively): the leak checks below look only at it, so another rescuetui on
    the machine, such as a second test run, cannot fail them or be cleaned up by them."""
    state = Path(tempfile.mkdtemp(prefix="rescuetui-test-", dir="/run"))
    monkeypatch.setenv("RESCUETUI_STATE_DIR", str(state))
    monkeypatch.setattr("rescuetui.core.state.STATE_BASE", state)
    yield state
    if not _our_mounts(state):
        subprocess.run(["rm", "-rf", "--one-file-system", str(state)], check=False)


def _our_mounts(state: Path) -> list[str]:
    return [m.mountpoint for m in current_mounts() if m.mountpoint.startswith(f"{state}/")]


def _chroot_mounted(pid: int, timeout: float = 60) -> bool:
    """Wait until the run with this pid has its target mounted (its session directory carries
    the pid, so other runs on the machine do not count)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(f"-{pid}-" in m.mountpoint and m.mountpoint.endswith("/root")
               for m in current_mounts()):
            return True
        time.sleep(0.1)
    return False


def _started_by(pid: int, name: str) -> list[int]:
    """The processes called `name` that descend from `pid` (inside its sandbox too)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit():
                stat = (proc / "stat").read_text()
                names[int(proc.name)] = stat[stat.index("(") + 1:stat.rindex(")")]
                parents[int(proc.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
    found = []
    for child, comm in names.items():
        ancestor = child
        while ancestor in parents and ancestor != pid:
            ancestor = parents[ancestor]
        if ancestor == pid and comm == name:
            found.append(child)
    return found


def _command_started(pid: int, name: str, timeout: float = 60) -> bool:
    """Wait until the run's command is running inside its sandbox (the mounts come first, the
    command a moment later)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _started_by(pid, name):
            return True
        time.sleep(0.1)
    return False


def _loops_on(image: Path) -> str:
    return subprocess.run(["losetup", "--associated", str(image)], capture_output=True,
                          text=True, check=False).stdout


def test_run_cat_os_release(debian_image: BuiltDisk, journal_dir: Path, state_dir: Path) -> None:
    out = rescuetui("run", "--disk", str(debian_image.image), "--journal", str(journal_dir),
                    "--", "cat", "/etc/os-release")
    assert out.returncode == 0, out.stderr
    assert b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' in out.stdout
    assert _loops_on(debian_image.image) == ""
    assert not _our_mounts(state_dir)


def test_run_sees_boot_partition_and_passes_exit_status(
    debian_image: BuiltDisk, journal_dir: Path
) -> None:
    out = rescuetui("run", "--disk", str(debian_image.image), "--journal", str(journal_dir), "--",
                    "sh", "-c", "ls /boot; test -e /proc/self/status && test -c /dev/null; exit 7")
    assert out.returncode == 7, out.stderr
    assert b"vmlinuz-" in out.stdout and b"initrd.img-" in out.stdout
    (session,) = list(journal_dir.iterdir())
    records = Journal.open(session).records()
    command = next(r for r in records if r["kind"] == "command")
    assert command["exit"] == 7 and command["where"].startswith("chroot:")
    assert Path(command["output"]).read_bytes() == out.stdout


def test_scan_json_shows_the_root_candidate(debian_image: BuiltDisk) -> None:
    out = rescuetui("scan", "--disk", str(debian_image.image), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    (target,) = data["targets"]
    root_part = debian_image.part("/")
    assert target["uuid"] == root_part.uuid
    assert target["distro"] == {"id": "debian", "version": "12",
                                "name": "Debian GNU/Linux 12 (bookworm)", "family": "debian"}
    assert target["arch"] == "x86_64" and target["boot_mode"] == "bios"
    (kernel,) = target["kernels"]
    assert kernel["version"].endswith("-cloud-amd64")
    assert kernel["image"] == f"/boot/vmlinuz-{kernel['version']}"
    assert kernel["initramfs"] == f"/boot/initrd.img-{kernel['version']}"
    assert kernel["initramfs_present"] and kernel["initramfs_size"] > 1_000_000
    assert kernel["modules"] == f"/lib/modules/{kernel['version']}"
    fstab = {e["mountpoint"]: e for e in target["fstab"]}
    assert fstab["/"]["status"] == fstab["/boot"]["status"] == "resolved"
    assert fstab["/boot"]["device"].endswith("p1") and fstab["/"]["device"].endswith("p2")
    assert all(c["status"] == "mounted" for c in target["mount_check"])
    disks = [d for d in data["devices"] if d["type"] == "disk" and d["transport"] == "loop"]
    assert any(d["partition_table"] == "dos" for d in disks)
    assert _loops_on(debian_image.image) == ""


def test_resolv_conf_is_lent_not_overwritten(debian_image: BuiltDisk, journal_dir: Path) -> None:
    """The sandbox sees the host's DNS servers over the target's own resolv.conf, read-only,
    and the target's file is unchanged afterwards."""
    host = Path(os.path.realpath("/etc/resolv.conf")).read_bytes()
    with RescueSession(journal_base=journal_dir) as session:
        session.open_target(str(debian_image.image))
        session.make_writable()
        files = ConfinedRoot(session.root)
        if files.is_symlink("/etc/resolv.conf"):
            files.unlink("/etc/resolv.conf")
        files.write_atomic("/etc/resolv.conf", b"nameserver 192.0.2.53\n")
        inside = session.runner.run_blocking(
            ["sh", "-c", "cat /etc/resolv.conf; (echo x >>/etc/resolv.conf) 2>/dev/null || echo ro"],
            in_chroot=True)
        assert "\n".join(inside.tail).strip().encode() == host.strip() + b"\nro"
        assert files.read("/etc/resolv.conf") == b"nameserver 192.0.2.53\n"


def test_rw_run_records_a_package_install_in_the_manifest(
    debian_image: BuiltDisk, journal_dir: Path
) -> None:
    out = rescuetui("run", "--disk", str(debian_image.image), "--journal", str(journal_dir),
                    "--rw", "--", "sh", "-c",
                    "dpkg -i /var/cache/apt/archives/cpio_*.deb >/dev/null && echo installed")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == b"installed"
    (session,) = list(journal_dir.iterdir())
    records = Journal.open(session).records()
    (manifest,) = [r for r in records if r["kind"] == "manifest"]
    command = next(r for r in records if r["kind"] == "command")
    assert manifest["command"] == command["seq"]
    changed = manifest["modified"] + manifest["added"]
    assert "/usr/bin/cpio" in changed
    assert any(p.startswith("/var/lib/dpkg/") for p in changed)
    # The journal travelled with the disk.
    check = rescuetui("run", "--disk", str(debian_image.image), "--journal", str(journal_dir),
                      "--", "ls", f"/var/log/rescuetui/{session.name}")
    assert b"journal.jsonl" in check.stdout


def test_file_change_then_undo_restores_exact_bytes(
    debian_image: BuiltDisk, journal_dir: Path
) -> None:
    def hostname_digest() -> bytes:
        out = rescuetui("run", "--disk", str(debian_image.image), "--journal", str(journal_dir),
                        "--", "cat", "/etc/hostname")
        assert out.returncode == 0, out.stderr
        return hashlib.sha256(out.stdout).digest()

    original = hostname_digest()
    with RescueSession(journal_base=journal_dir) as session:
        session.open_target(str(debian_image.image))
        session.make_writable()
        assert session.journal is not None
        record = session.journal.change_file(session.root, "/etc/hostname", b"changed\n",
                                             reason="test")
        changed_in = session.journal.directory
    assert Path(record["backup"]).is_file()
    assert hostname_digest() != original
    out = rescuetui("undo", "--session", str(changed_in), "--journal", str(journal_dir))
    assert out.returncode == 0, out.stderr
    assert b"restored #" in out.stdout
    assert hostname_digest() == original
    assert _loops_on(debian_image.image) == ""


def test_dry_run_runs_nothing(debian_image: BuiltDisk, journal_dir: Path) -> None:
    out = rescuetui("run", "--disk", str(debian_image.image), "--journal", str(journal_dir),
                    "--dry-run", "--", "rm", "-rf", "/etc")
    assert out.returncode == 0
    assert b"[dry-run] chroot:" in out.stdout and b"rm -rf /etc" in out.stdout
    check = rescuetui("run", "--disk", str(debian_image.image), "--journal", str(journal_dir),
                      "--", "test", "-d", "/etc")
    assert check.returncode == 0


def test_kill_9_then_cleanup_leaves_nothing(debian_image: BuiltDisk, journal_dir: Path,
                                            state_dir: Path) -> None:
    exe = rescuetui_exe()
    proc = subprocess.Popen([exe, "run", "--disk", str(debian_image.image), "--journal",
                             str(journal_dir), "--", "sleep", "300"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not _chroot_mounted(proc.pid) or not _command_started(proc.pid, "sleep"):
        proc.kill()
        pytest.fail("the run never started its command in the chroot")
    (sleeper,) = _started_by(proc.pid, "sleep")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The sandbox dies with the run (bubblewrap's --die-with-parent ends its PID namespace):
    # nothing of the target's keeps running; the mounts and the loop device stay for cleanup.
    deadline = time.monotonic() + 10
    while Path(f"/proc/{sleeper}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{sleeper}").exists()
    assert _our_mounts(state_dir), "expected leftovers"
    assert _loops_on(debian_image.image) != ""
    out = rescuetui("cleanup")
    assert out.returncode == 0, out.stdout + out.stderr
    assert b"took down" in out.stdout
    assert not _our_mounts(state_dir)
    assert _loops_on(debian_image.image) == ""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signals_tear_down(debian_image: BuiltDisk, journal_dir: Path, state_dir: Path,
                           sig: int) -> None:
    exe = rescuetui_exe()
    proc = subprocess.Popen([exe, "run", "--disk", str(debian_image.image), "--journal",
                             str(journal_dir), "--", "sleep", "300"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=os.environ | {"PYTHONFAULTHANDLER": "1"})
    assert _chroot_mounted(proc.pid), "the run never mounted its chroot"
    proc.send_signal(sig)
    try:
        status = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler prints where it hangs
        pytest.fail("the run did not end:\n" + proc.communicate()[1].decode(errors="replace"))
    assert status == 128 + sig
    assert not _our_mounts(state_dir)
    assert _loops_on(debian_image.image) == ""


def test_shell_runs_in_the_chroot_and_returns_its_status(
    debian_image: BuiltDisk, journal_dir: Path
) -> None:
    """`rescuetui shell` with a pipe for its terminal: the shell reads commands from it."""
    out = rescuetui("shell", "--disk", str(debian_image.image), "--journal", str(journal_dir),
                    input=b"grep PRETTY_NAME /etc/os-release; ls /boot | grep -c vmlinuz; exit 3\n")
    assert out.returncode == 3, out.stderr
    assert b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' in out.stdout
    assert b"1\n" in out.stdout
    assert b"read-only" in out.stderr
    assert _loops_on(debian_image.image) == ""


def test_a_second_ctrl_c_during_teardown_waits_until_it_is_done(
        debian_image: BuiltDisk, journal_dir: Path, state_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while a session is being taken down (the operator pressing it again) used to stop
    the teardown halfway, mounts left behind. It now acts once the teardown is done."""
    from rescuetui.core.mountstack import MountStack

    teardown = MountStack.teardown

    def interrupted_teardown(stack: MountStack) -> list[str]:
        os.kill(os.getpid(), signal.SIGINT)  # arrives while the first unmount is pending
        time.sleep(0.1)
        return teardown(stack)

    monkeypatch.setattr(MountStack, "teardown", interrupted_teardown)
    session = RescueSession(journal_base=journal_dir, state_base=state_dir)
    session.open_target(str(debian_image.image))
    assert _our_mounts(state_dir)
    with pytest.raises(KeyboardInterrupt):
        session.close()
    assert not _our_mounts(state_dir)
    assert _loops_on(debian_image.image) == ""


def test_a_descriptor_cut_off_by_a_ctrl_c_does_not_keep_the_disk(
        debian_image: BuiltDisk, journal_dir: Path) -> None:
    """A Ctrl-C between an open in the target and the `try` that closes it leaves a bare
    descriptor number nobody will close: the lazy unmount would then keep the filesystem, and
    the loop device under it, until the process ends. Teardown points such descriptors at
    /dev/null and the disk is detached, read back from the kernel."""
    from rescuetui.core import loopdev

    session = RescueSession(journal_base=journal_dir)
    try:
        session.open_target(str(debian_image.image))
        loops = list(session.state.loops)
        leaked = os.open(session.root / "etc" / "fstab", os.O_RDONLY)
        leaked_dir = os.open(session.root, os.O_PATH | os.O_DIRECTORY)
    finally:
        problems = session.close()
    try:
        assert problems == []
        assert loops and not any(loopdev.is_bound(loop) for loop in loops)
        assert os.read(leaked, 100) == b""  # /dev/null now, not the target's fstab
        assert os.readlink(f"/proc/self/fd/{leaked_dir}") == os.devnull
    finally:
        os.close(leaked)
        os.close(leaked_dir)


def test_cleanup_says_plainly_that_a_dead_runs_empty_state_was_removed(state_dir: Path) -> None:
    """A run that ended without removing its state (nothing mounted or attached) is not
    reported as if something had been taken down."""
    from rescuetui.core.state import SessionState

    state = SessionState.create(state_dir)
    state.pid, state.pid_start = 0, ""
    state.save()
    out = rescuetui("cleanup")
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().strip() == f"{state.directory.name}: a finished run's empty state; removed."
    assert not state.directory.exists()
