"""Runs commands on the host or inside the target (in its sandbox): argv lists only, streamed,
journaled."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from rescuetui.core.errors import RescueError
from rescuetui.core.signals import signals_held

if TYPE_CHECKING:
    # asyncio (and OpenSSL, which it loads) is imported where a command runs: a session that
    # only looks (scan, diagnose --disk) never starts its loop.
    import asyncio
    import subprocess

    from rescuetui.core.journal import Journal
    from rescuetui.core.sandbox import Sandbox

LineCallback = Callable[[str], None]

CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
}
KILL_GRACE_SECONDS = 3.0
TAIL_LINES = 200


@dataclass
class CommandResult:
    argv: list[str]
    where: str
    returncode: int | None
    started: float
    ended: float
    output_path: Path | None = None
    timed_out: bool = False
    cancelled: bool = False
    dry_run: bool = False
    tail: list[str] = field(default_factory=list)
    seq: int | None = None  # the journal record of this command

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def describe_failure(self) -> str:
        shown = shlex.join(self.argv)
        if self.timed_out:
            return f"`{shown}` ({self.where}) did not finish in time and was stopped."
        if self.cancelled:
            return f"`{shown}` ({self.where}) was cancelled."
        last = f" Last output: {self.tail[-1]}" if self.tail else ""
        return f"`{shown}` ({self.where}) failed with exit status {self.returncode}.{last}"


class CommandRunner:
    """Runs argv lists, never a shell string.

    Output (stdout and stderr together) is streamed line by line to a callback and to an output
    file in the journal. stdin is /dev/null unless a descriptor is given. Each command gets its
    own process group, so a timeout or a cancellation stops everything it started. A command inside the target
    (`in_chroot`) runs in the target's sandbox (core/sandbox.py), never a bare chroot. With
    `dry_run`, the exact argv of a change is reported through the callback and nothing runs;
    a look (`look=True`: a read-only check such as `e2fsck -n`) runs for real, so that a dry
    run reports what is there, not what a command that never ran would have said.
    """

    def __init__(
        self,
        journal: Journal | None = None,
        *,
        sandbox: Sandbox | None = None,
        dry_run: bool = False,
    ) -> None:
        self.journal = journal
        self.sandbox = sandbox
        self.dry_run = dry_run

    @property
    def chroot(self) -> Path | None:
        """The target's root that commands inside it see as `/`."""
        return self.sandbox.root if self.sandbox else None

    def where(self, in_chroot: bool) -> str:
        return f"chroot:{self.chroot}" if in_chroot else "host"

    def _full_argv(self, argv: Sequence[str], in_chroot: bool, *, interactive: bool = False,
                   nvram: bool = False) -> tuple[list[str], int | None]:
        """The argv to start, and the seccomp descriptor it inherits (the caller closes it)."""
        _check_argv(argv)
        if in_chroot:
            if self.sandbox is None:
                raise RescueError("No target is mounted, so nothing can run inside it.")
            from rescuetui.core.sandbox import seccomp_memfd

            fd = seccomp_memfd()
            return self.sandbox.argv(argv, seccomp_fd=fd, interactive=interactive,
                                     nvram=nvram), fd
        return list(argv), None

    def _start(
        self, argv: Sequence[str], in_chroot: bool, on_line: LineCallback | None, *,
        simulate: bool,
    ) -> CommandResult | tuple[str, float, int | None, Path | None, dict[str, str] | None]:
        """What every run does first: check the argv, and either report and journal a
        simulated command (a dry run's), or give where it runs, when it started, its journal
        record number and output file, and its environment."""
        where = self.where(in_chroot)
        started = time.time()
        _check_argv(argv)
        if in_chroot and self.sandbox is None:
            raise RescueError("No target is mounted, so nothing can run inside it.")
        if simulate:
            if on_line:
                on_line(f"[dry-run] {where}: {shlex.join(list(argv))}")
            result = CommandResult(list(argv), where, 0, started, started, dry_run=True)
            self._journal(result)
            return result
        seq = self.journal.next_seq() if self.journal else None
        output_path = self.journal.output_path(seq) if self.journal and seq else None
        env = CHROOT_ENV | {"TERM": os.environ.get("TERM", "dumb")} if in_chroot else None
        return where, started, seq, output_path, env

    async def run(
        self,
        argv: Sequence[str],
        *,
        in_chroot: bool = False,
        timeout: float | None = None,
        on_line: LineCallback | None = None,
        cancel: asyncio.Event | None = None,
        nvram: bool = False,
        stdin: int | None = None,
        look: bool = False,
    ) -> CommandResult:
        import asyncio

        start = self._start(argv, in_chroot, on_line, simulate=self.dry_run and not (
            look and not in_chroot))
        if isinstance(start, CommandResult):
            return start
        where, started, seq, output_path, env = start
        full, seccomp_fd = self._full_argv(argv, in_chroot, nvram=nvram)
        try:
            # The start is not cancelled halfway: asyncio would kill bubblewrap before its
            # sandbox set --die-with-parent and then wait for a pipe that sandbox holds. A
            # cancel during the start waits for it to finish and kills what started.
            spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
                *full,
                stdin=asyncio.subprocess.DEVNULL if stdin is None else stdin,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                env=env,
                pass_fds=(seccomp_fd,) if seccomp_fd is not None else (),
            ))
            try:
                proc = await asyncio.shield(spawn)
            except asyncio.CancelledError:
                started_proc = await spawn
                await _kill_group(started_proc, sandboxed=in_chroot)
                _close_pipes(started_proc)
                raise
        except FileNotFoundError as exc:
            raise _not_installed(full[0]) from exc
        finally:
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        out: BinaryIO | None = open(output_path, "wb", buffering=0) if output_path else None  # noqa: SIM115
        timed_out = cancelled = False
        try:
            reader = asyncio.ensure_future(_pump(proc, out, tail, on_line))
            waiters: set[asyncio.Future[Any]] = {reader}
            cancel_wait = asyncio.ensure_future(cancel.wait()) if cancel else None
            if cancel_wait:
                waiters.add(cancel_wait)
            done, _ = await asyncio.wait(
                waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if reader not in done:
                timed_out = cancel_wait is None or cancel_wait not in done
                cancelled = not timed_out
                await _kill_group(proc, sandboxed=in_chroot)
                # What it wrote before it died; a process that escaped the kill (hung in the
                # kernel) may hold the pipe open, so the read is bounded.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader, KILL_GRACE_SECONDS)
            if cancel_wait and not cancel_wait.done():
                cancel_wait.cancel()
            if reader.done() and not reader.cancelled():
                returncode: int | None = await proc.wait()
            else:
                returncode = proc.returncode
                _close_pipes(proc)
        except asyncio.CancelledError:
            await _kill_group(proc, sandboxed=in_chroot)
            _close_pipes(proc)
            raise
        finally:
            if out:
                _close_quietly(out)
        result = CommandResult(
            list(argv),
            where,
            returncode,
            started,
            time.time(),
            output_path=output_path,
            timed_out=timed_out,
            cancelled=cancelled,
            tail=list(tail),
            seq=seq,
        )
        self._journal(result, seq)
        return result

    def run_blocking(self, argv: Sequence[str], **kwargs: object) -> CommandResult:
        """`run` for callers outside an event loop (the CLI)."""
        import asyncio

        return asyncio.run(self.run(argv, **kwargs))  # type: ignore[arg-type]

    def run_plain(
        self,
        argv: Sequence[str],
        *,
        in_chroot: bool = False,
        timeout: float | None = None,
        on_line: LineCallback | None = None,
    ) -> CommandResult:
        """`run` without an event loop, for a plain blocking call (`rescuetui run`): the same
        argv checks, sandbox, output file, journal record, timeout and group kill, read with
        a selector instead of asyncio, whose import (and OpenSSL's through it) would be most of
        such a command's start-up. Ctrl-C kills the command's group and is raised again."""
        import selectors
        import subprocess

        start = self._start(argv, in_chroot, on_line, simulate=self.dry_run)
        if isinstance(start, CommandResult):
            return start
        where, started, seq, output_path, env = start
        full, seccomp_fd = self._full_argv(argv, in_chroot)
        proc: subprocess.Popen[bytes] | None = None
        try:
            # Not cut in half by a Ctrl-C: a Popen interrupted after its fork would leave a
            # sandbox running that we know nothing of, holding the target's filesystems.
            with signals_held():
                proc = subprocess.Popen(  # noqa: S603 - argv list
                    full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, start_new_session=True, env=env,
                    pass_fds=(seccomp_fd,) if seccomp_fd is not None else (),
                )
        except FileNotFoundError as exc:
            raise _not_installed(full[0]) from exc
        except BaseException:  # the Ctrl-C held during the start: what started goes
            if proc is not None:
                _kill_group_plain(proc, sandboxed=in_chroot)
                if proc.stdout:
                    proc.stdout.close()
            raise
        finally:
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        assert proc.stdout is not None
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        deadline = None if timeout is None else time.monotonic() + timeout
        timed_out = False
        out: BinaryIO | None = open(output_path, "wb", buffering=0) if output_path else None  # noqa: SIM115
        lines = _Lines(out, tail, on_line)
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(proc.stdout, selectors.EVENT_READ)
                while True:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        timed_out = True
                        break
                    if not selector.select(left):
                        continue
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    lines.feed(chunk)
            lines.end()
            if timed_out:
                _kill_group_plain(proc, sandboxed=in_chroot)
            returncode: int | None = proc.wait()
        except BaseException:  # Ctrl-C: nothing it started outlives us
            _kill_group_plain(proc, sandboxed=in_chroot)
            raise
        finally:
            proc.stdout.close()
            if out:
                _close_quietly(out)
        result = CommandResult(list(argv), where, returncode, started, time.time(),
                               output_path=output_path, timed_out=timed_out, tail=list(tail),
                               seq=seq)
        self._journal(result, seq)
        return result

    def run_interactive(self, argv: Sequence[str], *, in_chroot: bool = True) -> CommandResult:
        """Run with the operator's terminal attached (a shell): output is not captured."""
        import subprocess

        env = CHROOT_ENV | {"TERM": os.environ.get("TERM", "dumb")} if in_chroot else None
        started = time.time()
        _check_argv(argv)
        if self.dry_run:
            result = CommandResult(list(argv), self.where(in_chroot), 0, started, started, dry_run=True)
        else:
            full, seccomp_fd = self._full_argv(argv, in_chroot, interactive=True)
            # Like system(3): the operator's Ctrl-C is for the shell, not for us; the child
            # gets the default handler back.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                completed = subprocess.run(  # noqa: S603 - argv list
                    full, env=env, check=False,
                    pass_fds=(seccomp_fd,) if seccomp_fd is not None else (),
                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                )
            finally:
                signal.signal(signal.SIGINT, previous)
                if seccomp_fd is not None:
                    os.close(seccomp_fd)
            result = CommandResult(
                list(argv), self.where(in_chroot), completed.returncode, started, time.time()
            )
        self._journal(result, interactive=True)
        return result

    def _journal(
        self, result: CommandResult, seq: int | None = None, *, interactive: bool = False
    ) -> None:
        if self.journal is None:
            return
        record = self.journal.append(
            "command",
            seq=seq,
            argv=result.argv,
            where=result.where,
            start=result.started,
            end=result.ended,
            exit=result.returncode,
            output=str(result.output_path) if result.output_path else None,
            timed_out=result.timed_out,
            cancelled=result.cancelled,
            dry_run=result.dry_run,
            interactive=interactive,
        )
        result.seq = record["seq"]


def _not_installed(program: str) -> RescueError:
    return RescueError(f"The program `{program}` is not installed on the rescue system; install "
                       "it (see README) and try again.")


def _check_argv(argv: Sequence[str]) -> None:
    if not argv:
        raise RescueError("No command was given to run.")
    if not all(isinstance(a, str) for a in argv):
        raise TypeError(f"argv must be a list of str, got {argv!r}")


async def _pump(
    proc: asyncio.subprocess.Process,
    out: BinaryIO | None,
    tail: deque[str],
    on_line: LineCallback | None,
) -> None:
    """Copy the child's output to the file and hand each complete line to the callback."""
    assert proc.stdout is not None
    lines = _Lines(out, tail, on_line)
    while chunk := await proc.stdout.read(65536):
        lines.feed(chunk)
    lines.end()


def _close_quietly(out: BinaryIO) -> None:
    """Close an output file whose last write may fail again (a full disk): already said."""
    with contextlib.suppress(OSError):
        out.close()


class _Lines:
    """A command's output as it comes: copied to its file, cut into lines, each line kept in
    the tail and handed to the callback (the last one even without a newline)."""

    def __init__(self, out: BinaryIO | None, tail: deque[str],
                 on_line: LineCallback | None) -> None:
        self.out, self.tail, self.on_line = out, tail, on_line
        self.pending = b""

    def feed(self, chunk: bytes) -> None:
        if self.out:
            try:
                self.out.write(chunk)
            except OSError as exc:
                # A full journal disk does not stop the command halfway (a half-built
                # initramfs is worse than a short log); the operator is told here, and the
                # journal's next record, if it cannot be written either, stops the repair.
                self.out = None
                self._emit(f"[rescuetui: this output's file in the journal stops here: "
                           f"{exc.strerror}]".encode())
        self.pending += chunk
        *complete, self.pending = self.pending.split(b"\n")
        for raw in complete:
            self._emit(raw)

    def end(self) -> None:
        if self.pending:
            self._emit(self.pending)
            self.pending = b""

    def _emit(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "surrogateescape")
        self.tail.append(line)
        if self.on_line:
            self.on_line(line)


async def _kill_group(proc: asyncio.subprocess.Process, *, sandboxed: bool) -> None:
    """SIGTERM the whole process group, then SIGKILL whatever is left after a grace period.

    A sandbox is killed first, at its PID namespace's init (bubblewrap's child, in a session
    of its own): its --die-with-parent is set by the child after it starts, so a sandbox
    killed in that moment would outlive its parent, and hold our pipe open, for good.
    """
    if sandboxed:
        _kill_children(proc.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        _signal_group(proc.pid, sig)
        if await _exited(proc, KILL_GRACE_SECONDS):
            # The leader is gone; make sure no member of its group outlives it.
            _signal_group(proc.pid, signal.SIGKILL)
            return


def _kill_group_plain(proc: subprocess.Popen[bytes], *, sandboxed: bool) -> None:
    """`_kill_group` for a process started without an event loop."""
    import subprocess

    if sandboxed:
        _kill_children(proc.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        _signal_group(proc.pid, sig)
        try:
            proc.wait(KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            continue
        _signal_group(proc.pid, signal.SIGKILL)
        return


def _kill_children(pid: int) -> None:
    for child in _children(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _close_pipes(proc: asyncio.subprocess.Process) -> None:
    """Let go of a child's pipe that something outside its group still holds (asyncio's
    Process has no public way: its transport closes the pipes)."""
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()


async def _exited(proc: asyncio.subprocess.Process, seconds: float) -> bool:
    """Whether the process ended within `seconds` (its exit, not its pipes: `proc.wait()`
    also waits for every holder of its output to let go)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while proc.returncode is None and loop.time() < deadline:
        await asyncio.sleep(0.02)
    return proc.returncode is not None


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (this kernel has no /proc/PID/task/*/children)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry.name))
    return found
