"""The command runner: argv only, streamed, journaled, timeouts and cancellation kill the group."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from rescuetui.core.errors import RescueError
from rescuetui.core.journal import Journal
from rescuetui.core.runner import CommandRunner


async def test_streams_lines_and_writes_output_file(journal_dir: Path) -> None:
    journal = Journal.create(journal_dir)
    lines: list[str] = []
    result = await CommandRunner(journal).run(
        ["sh", "-c", "echo one; echo two >&2; printf 'no newline'"], on_line=lines.append
    )
    assert result.ok
    assert lines == ["one", "two", "no newline"]
    assert result.output_path is not None
    assert result.output_path.read_bytes() == b"one\ntwo\nno newline"
    (record,) = [r for r in journal.records() if r["kind"] == "command"]
    assert record["argv"] == ["sh", "-c", "echo one; echo two >&2; printf 'no newline'"]
    assert record["exit"] == 0 and record["where"] == "host"
    assert record["output"] == str(result.output_path)


async def test_hostile_strings_are_arguments_never_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = f"$(touch {marker}); touch {marker}"
    result = await CommandRunner().run(["echo", hostile], on_line=lambda _: None)
    assert result.ok and result.tail == [hostile]
    assert not marker.exists()


async def test_stdin_is_dev_null() -> None:
    result = await CommandRunner().run(["cat"], timeout=10)
    assert result.ok and result.tail == []


async def test_exit_status_is_reported() -> None:
    result = await CommandRunner().run(["sh", "-c", "exit 7"])
    assert result.returncode == 7 and not result.ok
    assert "exit status 7" in result.describe_failure()


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    started = time.monotonic()
    result = await CommandRunner().run(
        ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], timeout=0.5
    )
    assert result.timed_out and time.monotonic() - started < 10
    grandchild = int(pidfile.read_text())
    await asyncio.sleep(0.2)
    assert not _alive(grandchild), "the background child survived the timeout"


async def test_a_process_outside_the_group_holding_the_output_does_not_hang_the_run(
        tmp_path: Path) -> None:
    """What escapes the group kill (a sandbox whose --die-with-parent was not set yet, a
    daemon in a session of its own) keeps our pipe open: the run still ends, with what was
    written before, and does not wait for that pipe to close."""
    pidfile = tmp_path / "escaped.pid"
    started = time.monotonic()
    result = await CommandRunner().run(
        ["sh", "-c", f"echo before; setsid sleep 60 & echo $! > {pidfile}; wait"], timeout=0.5
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


async def test_dry_run_runs_nothing(tmp_path: Path, journal_dir: Path) -> None:
    marker = tmp_path / "made"
    journal = Journal.create(journal_dir)
    shown: list[str] = []
    result = await CommandRunner(journal, dry_run=True).run(["touch", str(marker)],
                                                             on_line=shown.append)
    assert result.dry_run and not marker.exists()
    assert shown == [f"[dry-run] host: touch {marker}"]
    assert [r["dry_run"] for r in journal.records() if r["kind"] == "command"] == [True]


async def test_long_lines_and_binary_output() -> None:
    lines: list[str] = []
    result = await CommandRunner().run(
        ["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x; echo; printf '\\377\\376\\n'"],
        on_line=lines.append,
    )
    assert result.ok
    assert len(lines[0]) == 300000
    assert lines[1].encode("utf-8", "surrogateescape") == b"\xff\xfe"


async def test_missing_program_is_a_clear_error() -> None:
    with pytest.raises(RescueError, match="not installed"):
        await CommandRunner().run(["no-such-program-rescuetui"])


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
