"""Looking runs nothing from the disk (issue 13): `scan`, `diagnose --disk` and every read-only
check of a repair execute no program of the target.

Real parts: the Debian 12 disk image, mounted by a real session; its ldd, lsinitramfs,
lsinitrd, dpkg, rpm, true, env, grep and /bin/sh replaced by booby traps (scripts that write
a marker on the target and then do the real program's work). Every process started meanwhile
is recorded where Python starts it (subprocess.Popen, which asyncio's subprocesses use too,
and the runner's run and run_interactive, both still running the real thing): none may be a
chroot, a sandbox, or a program of the target. The test then runs one trap through the chroot
itself, to show the traps and the recording would have caught a run.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rescuetui import cli
from rescuetui.checks import BOOT_CHECKS
from rescuetui.checks.base import TargetContext
from rescuetui.checks.default_kernel import check_default_kernel
from rescuetui.core.runner import CommandRunner
from rescuetui.core.session import RescueSession
from rescuetui.core.state import STATE_BASE
from rescuetui.diagnose.machine import machine_drivers
from rescuetui.diagnose.target_logs import diagnose_target
from rescuetui.lab.disk import BuiltDisk

TRAPS = ("/usr/bin/ldd", "/usr/bin/lsinitramfs", "/usr/bin/lsinitrd", "/usr/bin/dpkg",
         "/usr/bin/rpm", "/usr/bin/true", "/usr/bin/env", "/usr/bin/grep", "/usr/bin/sh")
MARKER = "/var/tmp/rescuetui-trap-fired"
# What runs a command inside a target: never while only looking.
CONFINERS = {"chroot", "bwrap", "systemd-nspawn", "unshare", "nsenter", "arch-chroot"}


class Recorder:
    """Every process Python starts, and every command the runner is given."""

    def __init__(self) -> None:
        self.processes: list[list[str]] = []
        self.commands: list[tuple[list[str], bool]] = []

    def chroot_commands(self) -> list[list[str]]:
        return [argv for argv, in_chroot in self.commands if in_chroot]

    def confined_processes(self, roots: list[str]) -> list[list[str]]:
        """Processes that run something inside a target: a confiner, or a program whose path
        lies in a mounted target."""
        found = []
        for argv in self.processes:
            program = argv[0] if argv else ""
            if os.path.basename(program) in CONFINERS or any(
                    os.path.realpath(program).startswith(r.rstrip("/") + "/") for r in roots):
                found.append(argv)
        return found


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    seen = Recorder()
    popen_init = subprocess.Popen.__init__

    def recording_popen(self: subprocess.Popen[Any], args: Any, *a: Any, **kw: Any) -> None:
        argv = [os.fsdecode(args)] if isinstance(args, (str, bytes, os.PathLike)) else \
            [os.fsdecode(x) for x in args]
        seen.processes.append(argv)
        popen_init(self, args, *a, **kw)

    run = CommandRunner.run
    run_interactive = CommandRunner.run_interactive

    async def recording_run(self: CommandRunner, argv: Any, **kw: Any) -> Any:
        seen.commands.append((list(argv), bool(kw.get("in_chroot", False))))
        return await run(self, argv, **kw)

    def recording_interactive(self: CommandRunner, argv: Any, **kw: Any) -> Any:
        seen.commands.append((list(argv), bool(kw.get("in_chroot", True))))
        return run_interactive(self, argv, **kw)

    monkeypatch.setattr(subprocess.Popen, "__init__", recording_popen)
    monkeypatch.setattr(CommandRunner, "run", recording_run)
    monkeypatch.setattr(CommandRunner, "run_interactive", recording_interactive)
    yield seen


def _set_traps(root: Path) -> None:
    """Each trap writes its name to MARKER, then runs the real program (moved aside)."""
    for path in TRAPS:
        host = root / path.lstrip("/")
        real = host.with_name(host.name + ".real")
        if host.exists() or host.is_symlink():
            os.rename(host, real)
        then = f'exec {path}.real "$@"' if real.exists() or real.is_symlink() else "exit 0"
        host.write_text(f"#!/usr/bin/dash\necho \"{path} $*\" >> {MARKER}\n{then}\n")
        host.chmod(0o755)


def _looks(session: RescueSession) -> list[str]:
    """What a repair does before it changes anything: the diagnosis from the disk's logs, the
    machine's drivers, every boot check and the default kernel's."""
    assert session.target is not None
    diagnoses, evidence = diagnose_target(session.root)
    machine = machine_drivers([])
    ctx = TargetContext(session.root, session.target, session.runner,
                        session.target.kernels[0].version,
                        machine_drivers=machine.drivers or evidence.machine.drivers)
    names = []
    for name, check in BOOT_CHECKS.items():
        finding = check(ctx)
        names.append(f"{name}:{finding.finding}")
    names.append("default-kernel:" + check_default_kernel(ctx).finding)
    return names


@pytest.mark.root
@pytest.mark.slow
def test_checks_scan_and_diagnose_run_nothing_from_the_disk(
        debian_image: BuiltDisk, journal_dir: Path, recorder: Recorder,
        capsys: pytest.CaptureFixture[str]) -> None:
    image = str(debian_image.image)
    with RescueSession(journal_base=journal_dir) as session:
        session.open_target(image)
        session.make_writable()
        _set_traps(session.root)
        marker = session.root / MARKER.lstrip("/")
        recorder.processes.clear()
        recorder.commands.clear()
        seen = _looks(session)
        assert len(seen) == len(BOOT_CHECKS) + 1
        # The checks read what the traps replaced, and still found their answers.
        assert "libraries:ok" in seen and "initramfs:ok" in seen, seen
        assert recorder.chroot_commands() == []
        assert recorder.confined_processes([str(session.root), str(STATE_BASE)]) == []
        assert not marker.exists(), marker.read_text()

        # The control: a command in the chroot fires its trap and is recorded.
        session.runner.run_blocking(["ldd", "/usr/bin/true"], in_chroot=True, timeout=60)
        assert recorder.chroot_commands() == [["ldd", "/usr/bin/true"]]
        assert "/usr/bin/ldd /usr/bin/true" in marker.read_text()
        marker.unlink()

    recorder.processes.clear()
    recorder.commands.clear()
    assert cli.main(["scan", "--disk", image, "--json"]) == 0
    scanned = json.loads(capsys.readouterr().out)
    assert scanned["targets"], scanned
    assert cli.main(["diagnose", "--disk", image, "--log",
                     str(Path(__file__).parent / "data/serial/libc-deleted.log"), "--json"]) == 0
    diagnosed = json.loads(capsys.readouterr().out)
    assert diagnosed["class"] == "init-killed", diagnosed
    assert recorder.chroot_commands() == []
    assert recorder.confined_processes([str(STATE_BASE)]) == []
    assert recorder.processes, "the recording saw no process at all (mount, blkid ...)"
