"""The guided flow runs the same Repair as `rescuetui repair`, in a worker thread; each of its
stages becomes a message to the app, and where the operator decides (which system, which
evidence, apply this fix?) the worker waits for the answer. So the TUI has no repair logic of
its own: it shows what the engine found and passes on what the operator chose.

The worker starts as soon as the first screen is drawn: the engine loads, attaches the disk and
searches it while the operator reads, then waits at its first question; the app holds what it
says until the operator starts (app.RescueApp.held).

Quitting sets a flag that the worker sees at its next stage; it then leaves the session, which
tears every mount down. A command that is running is let finish first (killing a package
manager half-way leaves more broken than it found).
"""

from __future__ import annotations

import queue
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.message import Message

from rescuetui.core.errors import RescueError

if TYPE_CHECKING:
    from rescuetui.fixes.base import FixPlan
    from rescuetui.fixes.workflow import RepairReport

# One thread at a time loads the engine's modules and the screens that show its objects: two
# threads importing one package at once can fail ("deadlock detected by _ModuleLock": a
# package's __init__ and its modules import each other), and the engine loads in the worker
# while the start screen is read.
LOADING = threading.Lock()

# Stages where the worker waits for the operator (the others only report).
WAITING = frozenset({"found", "mounted", "evidence", "diagnosed"})


class Cancelled(Exception):
    """The operator quit: unwind the repair (the session tears its mounts down)."""


class StageReached(Message):
    def __init__(self, name: str, data: dict[str, Any]) -> None:
        super().__init__()
        self.name, self.data = name, data
        self.reply: Any = None  # set for stages that wait: call it with the answer


class ConfirmFix(Message):
    def __init__(self, plan: FixPlan) -> None:
        super().__init__()
        self.plan = plan
        self.reply: Any = None


class OutputLine(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class FlowEnded(Message):
    def __init__(self, report: RepairReport | None, error: str = "",
                 cancelled: bool = False) -> None:
        super().__init__()
        self.report, self.error, self.cancelled = report, error, cancelled


_CANCEL = object()


@dataclass
class FlowBridge:
    app: App[Any]
    disk: str
    logs: list[Path] = field(default_factory=list)
    journal_base: Path | None = None
    dry_run: bool = False
    unlock: dict[str, Any] = field(default_factory=dict)  # key file, --assemble-raid
    cancelled: bool = False
    finished: threading.Event = field(default_factory=threading.Event)
    _answers: queue.Queue[Any] = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None
    _go: threading.Event = field(default_factory=threading.Event)  # the operator's Enter

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="repair", daemon=False)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def cancel(self) -> None:
        self.cancelled = True
        self._answers.put(_CANCEL)
        self._go.set()

    def go(self) -> None:
        """The operator started the flow (Enter on the start screen)."""
        self._go.set()

    def wait_for_go(self) -> None:
        """In the worker: wait until the operator started the flow (or quit)."""
        self._go.wait()
        if self.cancelled:
            raise Cancelled

    def _post(self, message: Message) -> None:
        # post_message is thread-safe and does not wait: call_from_thread would, for the app's
        # loop, which is stuck in on_unmount waiting for this thread when the app ends while
        # a stage is pending (a deadlock until on_unmount's timeout).
        self.app.post_message(message)

    def _run(self) -> None:
        repair = None
        try:
            with LOADING:  # here, in the worker, not before the first screen is drawn
                from rescuetui.fixes.workflow import Repair

            if self.cancelled:  # quit before anything was attached
                raise Cancelled
            # A LUKS device with no key file: the operator is asked (a password field; the
            # answer goes to cryptsetup and nowhere else, never into a stage's data or the
            # journal).
            # Opening volumes changes the disk (an md assembly, an imported LVM copy renamed
            # until teardown): the look-ahead stops there until the operator's Enter.
            unlock = dict(self.unlock, ask=self._passphrase, before_opening=self.wait_for_go)
            repair = Repair(disk=self.disk, logs=list(self.logs), confirm=self._confirm,
                            say=self._say, stage=self._stage, dry_run=self.dry_run,
                            journal_base=self.journal_base, unlock=unlock)
            report = repair.run()
            self._post(FlowEnded(report))
        except Cancelled:
            self._forget_empty_journal(repair)
            self._post(FlowEnded(None, cancelled=True))
        except RescueError as exc:
            self._forget_empty_journal(repair)
            self._post(FlowEnded(None, error=str(exc)))
        except Exception as exc:  # shown, not swallowed: the session has torn down already
            self._post(FlowEnded(None, error=f"{type(exc).__name__}: {exc}"))
        finally:
            self.finished.set()

    @staticmethod
    def _forget_empty_journal(repair: Any) -> None:
        """A session that recorded nothing but its start and end is not kept: the disk is
        looked at while the start screen is read, and an operator who quits there (or whose
        disk is not there) leaves no journal for `rescuetui undo` to take for the latest."""
        from rescuetui.core.journal import Journal

        directory = Path(repair.report.journal) if repair and repair.report.journal else None
        if directory is None or not directory.is_dir():
            return
        try:
            kinds = {record.get("kind") for record in Journal.open(directory).records()}
        except (OSError, RescueError):
            return
        if kinds <= {"session-start", "session-end"}:
            shutil.rmtree(directory, ignore_errors=True)

    def _ask(self, message: StageReached | ConfirmFix) -> Any:
        if self.cancelled:
            raise Cancelled
        message.reply = self._answers.put
        self._post(message)
        answer = self._answers.get()
        if answer is _CANCEL or self.cancelled:
            raise Cancelled
        return answer

    def _stage(self, name: str, **data: Any) -> Any:
        if self.cancelled:
            raise Cancelled
        if name in WAITING:
            return self._ask(StageReached(name, data))
        self._post(StageReached(name, data))
        return None

    def _passphrase(self, device: str) -> bytes | None:
        answer = self._ask(StageReached("passphrase", {"device": device}))
        return answer.encode() if isinstance(answer, str) and answer else None

    def _confirm(self, plan: FixPlan) -> bool:
        return bool(self._ask(ConfirmFix(plan)))

    def _say(self, line: str) -> None:
        self._post(OutputLine(line))
