"""The command runner: argv only, streamed, journaled, timeouts and cancellation kill the group."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from rescuetui.core.errors import RescueError
from rescuetui.core.journal import Journal
from rescuetui.core.runner import CommandResult, CommandRunner

ENGINES = ["asyncio", "plain"]


async def run_with(engine: str, runner: CommandRunner, argv: list[str], **kwargs: object) -> CommandResult:
    """One command through the event loop (`run`: the TUI, repair) or without one
    (`run_plain`: `rescuetui run`); both must behave alike."""
    if engine == "plain":
        return runner.run_plain(argv, **kwargs)  # type: ignore[arg-type]
    return await runner.run(argv, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ENGINES)
async def test_streams_lines_and_writes_output_file(engine: str, journal_dir: Path) -> None:
    journal = Journal.create(journal_dir)
    lines: list[str] = []
    result = await run_with(
        engine,
        CommandRunner(journal),
        ["sh", "-c", "echo one; echo two >&2; printf 'no newline'"],
        on_line=lines.append,
    )
    assert result.ok
    assert lines == ["one", "two", "no newline"]
    assert result.output_path is not None
    assert result.output_path.read_bytes() == b"one\ntwo\nno newline"
    (record,) = [r for r in journal.records() if r["kind"] == "command"]
    assert record["argv"] == ["sh", "-c", "echo one; echo two >&2; printf 'no newline'"]
    assert record["exit"] == 0 and record["where"] == "host"
    assert record["output"] == str(result.output_path)


@pytest.mark.parametrize("engine", ENGINES)
async def test_hostile_strings_are_arguments_never_shell(engine: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = f"$(touch {marker}); touch {marker}"
    result = await run_with(engine, CommandRunner(), ["echo", hostile], on_line=lambda _: None)
    assert result.ok and result.tail == [hostile]
    assert not marker.exists()


@pytest.mark.parametrize("engine", ENGINES)
async def test_stdin_is_dev_null(engine: str) -> None:
    result = await run_with(engine, CommandRunner(), ["cat"], timeout=10)
    assert result.ok and result.tail == []


@pytest.mark.parametrize("engine", ENGINES)
async def test_exit_status_is_reported(engine: str) -> None:
    result = await run_with(engine, CommandRunner(), ["sh", "-c", "exit 7"])
    assert result.returncode == 7 and not result.ok
    assert "exit status 7" in result.describe_failure()


@pytest.mark.parametrize("engine", ENGINES)
async def test_timeout_kills_the_whole_process_group(engine: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    started = time.monotonic()
    result = await run_with(
        engine, CommandRunner(), ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], timeout=0.5
    )
    assert result.timed_out and time.monotonic() - started < 10
    grandchild = int(pidfile.read_text())
    await asyncio.sleep(0.2)
    assert not _alive(grandchild), "the background child survived the timeout"


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_process_outside_the_group_holding_the_output_does_not_hang_the_run(
    engine: str, tmp_path: Path
) -> None:
    """What escapes the group kill (a sandbox whose --die-with-parent was not set yet, a
    daemon in a session of its own) keeps our pipe open: the run still ends, with what was
    written before, and does not wait for that pipe to close."""
    pidfile = tmp_path / "escaped.pid"
    started = time.monotonic()
    result = await run_with(
        engine,
        CommandRunner(),
        ["sh", "-c", f"echo before; setsid sleep 60 & echo $! > {pidfile}; wait"],
        timeout=0.5,
    )
    escaped = int(pidfile.read_text())
    try:
        assert result.timed_out and time.monotonic() - started < 15
        assert result.tail == ["before"]
    finally:
        os.kill(escaped, 9)


async def test_cancel_event_stops_the_command() -> None:
    cancel = asyncio.Event()
    task = asyncio.ensure_future(CommandRunner().run(["sleep", "60"], cancel=cancel))
    await asyncio.sleep(0.3)
    cancel.set()
    result = await asyncio.wait_for(task, 10)
    assert result.cancelled and not result.timed_out and not result.ok


@pytest.mark.parametrize("engine", ENGINES)
async def test_dry_run_runs_nothing(engine: str, tmp_path: Path, journal_dir: Path) -> None:
    marker = tmp_path / "made"
    journal = Journal.create(journal_dir)
    shown: list[str] = []
    result = await run_with(
        engine, CommandRunner(journal, dry_run=True), ["touch", str(marker)], on_line=shown.append
    )
    assert result.dry_run and not marker.exists()
    assert shown == [f"[dry-run] host: touch {marker}"]
    assert [r["dry_run"] for r in journal.records() if r["kind"] == "command"] == [True]


@pytest.mark.parametrize("engine", ENGINES)
async def test_long_lines_and_binary_output(engine: str) -> None:
    lines: list[str] = []
    result = await run_with(
        engine,
        CommandRunner(),
        ["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x; echo; printf '\\377\\376\\n'"],
        on_line=lines.append,
    )
    assert result.ok
    assert len(lines[0]) == 300000
    assert lines[1].encode("utf-8", "surrogateescape") == b"\xff\xfe"


@pytest.mark.parametrize("engine", ENGINES)
async def test_missing_program_is_a_clear_error(engine: str) -> None:
    with pytest.raises(RescueError, match="not installed"):
        await run_with(engine, CommandRunner(), ["no-such-program-rescuetui"])


def test_chroot_needs_a_target() -> None:
    with pytest.raises(RescueError, match="No target is mounted"):
        CommandRunner().run_blocking(["true"], in_chroot=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_ctrl_c_while_the_command_starts_leaves_nothing_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C that comes after the fork and before the runner holds the process (here sent
    from inside Popen, right after it started the command) must not leave the command
    running unknown to us: it is held until the start is done, then the command's group is
    killed and the Ctrl-C goes on."""
    import signal
    import subprocess

    marker = tmp_path / "started"
    real_popen = subprocess.Popen

    def popen_then_ctrl_c(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        proc = real_popen(*args, **kwargs)  # type: ignore[call-overload]
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        started.append(proc)
        os.kill(os.getpid(), signal.SIGINT)
        return proc  # type: ignore[no-any-return]

    started: list[subprocess.Popen[bytes]] = []
    monkeypatch.setattr(subprocess, "Popen", popen_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        CommandRunner().run_plain(["sh", "-c", f"touch {marker}; exec sleep 300"])
    (proc,) = started
    try:
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        proc.kill()
