"""The guided TUI: a view over the engine. It shows each stage of the same Repair that
`rescuetui repair` runs (see screens/bridge.py) and passes on what the operator chooses."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, cast

from rich.console import Console
from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from rescuetui.core.text import TerminalGuard
from rescuetui.screens.base import STEPS, FlowScreen
from rescuetui.screens.bridge import (
    LOADING,
    ConfirmFix,
    FlowBridge,
    FlowEnded,
    OutputLine,
    StageReached,
)
from rescuetui.terminal import Profile
from rescuetui.widgets.keybar import KeyBar
from rescuetui.widgets.stream_log import StreamLog

ORDER = ("start", "disks", "mount", "evidence", "tree", "fix", "report")
# Each step's screen, imported when it is first shown: drawing the first screen needs only the
# first (the others bring the engine's modules with them, a good part of a second on a small
# machine: the repair worker loads those while the operator reads the first screen).
STEP_SCREENS = {"start": ("rescuetui.screens.start", "StartScreen"),
                "disks": ("rescuetui.screens.disks", "DisksScreen"),
                "mount": ("rescuetui.screens.mount", "MountScreen"),
                "evidence": ("rescuetui.screens.evidence", "EvidenceScreen"),
                "tree": ("rescuetui.screens.tree", "TreeScreen"),
                "fix": ("rescuetui.screens.fix", "FixScreen"),
                "report": ("rescuetui.screens.report", "ReportScreen")}
# At most this long the first screen waits for its size before it is drawn (serial profile).
FIRST_PAINT_WAIT = 0.6
GENERAL_HINTS = {
    1: "Read the symptom first. Then Enter: rescuetui never changes the disk unasked.",
    2: "The practice disk holds one system; it is preselected. Enter mounts it read-only.",
    3: "Look at the fstab tree: did /boot mount? Is a device missing?",
    7: "b boots the repaired disk under qemu: the proof is its login prompt.",
}


class RescueApp(App[int]):
    TITLE = "rescuetui"
    CSS = """
    Screen { background: $background; }
    """
    BINDINGS = [
        Binding("f1,question_mark", "help", "Help"),
        Binding("escape", "step_back", "Back"),
        Binding("q", "quit_flow", "Quit"),
        Binding("ctrl+c", "quit_flow", "Quit", show=False, priority=True),
    ]
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, *, profile: Profile, disk: str | None = None, logs: list[Path] | None = None,
                 practice: str | None = None, pick_practice: bool = False,
                 journal_base: Path | None = None,
                 environment: dict[str, str] | None = None,
                 unlock: dict[str, Any] | None = None, look_ahead: bool = True) -> None:
        super().__init__()
        # A crash's traceback, printed after the screen is gone, quotes what it was handling (a
        # label, a line of a log): plain text, its control characters escaped.
        self.error_console = Console(markup=False, highlight=False, color_system=None,
                                     file=cast(IO[str], TerminalGuard(sys.__stderr__ or sys.stderr)))
        self.profile, self.disk, self.logs = profile, disk, list(logs or [])
        self.practice, self.pick_practice = practice, pick_practice
        self.journal_base = journal_base
        # --key-file and --assemble-raid; a passphrase is asked on screen (PassphraseScreen).
        self.unlock = {k: v for k, v in (unlock or {}).items() if k != "passphrase"}
        self.bridge: FlowBridge | None = None
        # The disk is attached and searched while the start screen is read (`look_ahead`);
        # what the engine reports before the operator starts is held until then.
        self.look_ahead = look_ahead
        self.begun = False  # the operator has started (Enter on the start screen)
        self.held: list[StageReached | ConfirmFix | OutputLine | FlowEnded] | None = []
        # (None once what was held is handled: from then on, each message as it comes)
        self._first_paint = "waiting"  # then "held" (serial profile) and "done"
        self.ended: FlowEnded | None = None
        self.journal: Any = None  # the session's journal, once the repair has one
        self.screens_by_name: dict[str, FlowScreen] = {}
        self.furthest = 0
        self.started = time.monotonic()
        self.keystrokes = 0
        self.wrong_turns: list[str] = []
        self.status = 0
        self.ended_by: int | None = None  # the signal (SIGHUP, SIGTERM) that ended the run
        self.redraw_interval = 1.0 if profile.serial else 0.2
        self.environment = environment  # what the start screen reports (tests pass their own)
        if profile.serial and self.theme != "ansi-dark":
            self.theme = "ansi-dark"  # normally set already, before start-up (terminal.apply)

    # -- start and navigation -----------------------------------------------------------------

    def on_load(self) -> None:
        # A closed terminal (SIGHUP: a serial console's session dropped) or a kill (SIGTERM)
        # quits as `q` does: the repair unwinds and every mount and loop device goes.
        import asyncio
        import signal

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM):
            loop.add_signal_handler(sig, self._ended_by_signal, int(sig))
        if self.profile.serial:
            # The first screen is drawn once, when it has its size (first_screen_settled),
            # not as it is composed, laid out, then resized: each a whole terminal's worth
            # of bytes on a serial line.
            self._begin_batch()
            self._first_paint = "held"
        self.set_timer(FIRST_PAINT_WAIT, self.first_screen_settled)

    def on_resize(self, event: events.Resize) -> None:
        if self._first_paint != "done":
            # Once App's own handler has passed the size on to the screen: the screen lays
            # itself out at that size, then the app's queue reaches what the screen's start
            # queued there (the notification rack's first update), then the first paint.
            self.call_next(self.screen.call_later, self.call_later, self.first_screen_settled)

    def first_screen_settled(self) -> None:
        """The first screen has its size (its first Resize, or FIRST_PAINT_WAIT passed): on a
        serial line draw it now; then start looking at the disk while the operator reads."""
        if self._first_paint == "done":
            return
        held, self._first_paint = self._first_paint == "held", "done"
        screen = self.screen
        if held:
            self._end_batch()
            screen.refresh()
            # At once, not at the next tick of the screen's update timer (an eighth of a
            # second on a serial line). Textual's own: without it, that tick draws it.
            paint = getattr(screen, "_on_timer_update", None)
            if callable(paint):
                paint()
        screen.call_after_refresh(self.start_looking)

    def _settle(self, seconds: float) -> None:
        """On a serial line, hold the screen updates of a transition back until the layout
        has settled, then draw once: a screen change otherwise draws the whole terminal two
        or three times over (layout, timer updates). The first screen: see on_load."""
        if self.profile.serial:
            self.delay_update(seconds)

    def get_default_screen(self) -> Screen[Any]:
        """The first screen is the app's own (pushing one after start-up draws the whole
        terminal twice: a kilobyte and more on a serial line)."""
        if self.pick_practice:
            from rescuetui.screens.practice import PracticePickScreen

            return PracticePickScreen()
        return self._screen("start")  # type: ignore[no-any-return]

    def start_practice(self, name: str, image: Path, console: Path | None = None) -> None:
        self.practice, self.disk = name, str(image)
        self.logs = [console] if console is not None else []
        self.started, self.keystrokes, self.wrong_turns = time.monotonic(), 0, []
        self.show_step("start")
        self.call_after_refresh(self.start_looking)

    def start_looking(self) -> None:
        """Attach and search the disk in the background while the start screen is read: only
        looking, as `rescuetui scan` does; what the engine then says or asks waits for the
        operator's Enter (`held`)."""
        if not self.look_ahead or self.bridge is not None or self.begun:
            return
        if self.pick_practice and self.practice is None:
            return  # no practice system chosen yet
        self._start_engine()

    def _start_engine(self) -> None:
        # No --disk: every attached disk but the rescue system's own.
        self.bridge = FlowBridge(self, self.disk or "", self.logs, journal_base=self.journal_base,
                                 unlock=self.unlock)
        self.bridge.start()

    def begin(self) -> None:
        """Enter on the start screen: the flow starts (the engine has, maybe, already looked
        and is waiting with what it found)."""
        if self.begun:
            self.forward()
            return
        self.begun = True
        screen = self.show_step("disks")
        if self.bridge is None:
            self._start_engine()
        assert self.bridge is not None
        self.bridge.go()
        # Once the screen is composed (it is not yet: show_found fills in its widgets).
        screen.call_later(self._go_on)

    def _go_on(self) -> None:
        """What the engine said before the operator started, in the order it said it; from now
        on each message is acted on as it comes."""
        held, self.held = self.held or [], None
        for message in held:
            getattr(self, message.handler_name)(message)

    def _screen(self, name: str) -> Any:  # the step screen of that name
        if name not in self.screens_by_name:
            screen = self._step_class(name)()
            self.screens_by_name[name] = screen
            self.install_screen(screen, name=name)
        return self.screens_by_name[name]

    @staticmethod
    def _step_class(name: str) -> Any:
        import importlib

        module, cls = STEP_SCREENS[name]
        with LOADING:  # after the engine, if the worker is loading it (bridge.LOADING)
            return getattr(importlib.import_module(module), cls)

    def _screen_name(self) -> str | None:
        """The name of the step on view (None for a help screen, the practice picker...)."""
        here = self.screen
        return next((n for n, s in self.screens_by_name.items() if s is here), None)

    def show_step(self, name: str) -> Any:
        screen = self._screen(name)
        self.furthest = max(self.furthest, ORDER.index(name))
        if self.screen is not screen:
            self._settle(0.3)
            # The first screen is the stack's base: leave it there (Back returns to it).
            if screen is self.screen_stack[0]:
                while len(self.screen_stack) > 1:
                    self.pop_screen()
            elif len(self.screen_stack) > 1:
                self.switch_screen(screen)
            else:
                self.push_screen(screen)
        return screen

    def forward(self) -> None:
        """Enter on a step already answered: on to the furthest step reached."""
        here = self.screen
        current = ORDER.index(next((n for n, s in self.screens_by_name.items() if s is here),
                                   "start"))
        if current < self.furthest:
            self.show_step(ORDER[min(current + 1, self.furthest)])

    def action_step_back(self) -> None:
        here = self.screen
        name = next((n for n, s in self.screens_by_name.items() if s is here), None)
        if name is None or ORDER.index(name) == 0:
            return
        self.note_wrong_turn(f"went back from {name}")
        for previous in reversed(ORDER[:ORDER.index(name)]):
            if previous in self.screens_by_name:
                self.show_step(previous)
                return

    def action_help(self) -> None:
        from rescuetui.screens.help import HelpScreen

        screen = self.screen
        if isinstance(screen, FlowScreen):
            self.push_screen(HelpScreen(STEPS[screen.STEP - 1], screen.HELP,
                                        self.hint_for(screen.STEP)))

    def _ended_by_signal(self, number: int) -> None:
        """Quit as `q` does, and exit as a process ended by the signal would (128 + its
        number), so that whatever started us does not read the end as a success."""
        self.ended_by = number
        self.action_quit_flow()

    @property
    def exit_status(self) -> int:
        return 128 + self.ended_by if self.ended_by is not None else self.status

    def action_quit_flow(self) -> None:
        self.look_ahead = False  # a look not started yet never starts
        if self.bridge is not None and self.bridge.running:
            self.bridge.cancel()
            self.notify("Taking the mounts down (a running command is let finish first)...",
                        timeout=30, markup=False)
            self.set_interval(0.2, self._exit_when_done)
        else:
            self.exit(self.exit_status)

    def _exit_when_done(self) -> None:
        if self.bridge is None or self.bridge.finished.is_set():
            self.exit(self.exit_status)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette (Ctrl+P) offers every action."""
        yield SystemCommand("Help", "Help for this step (F1)", self.action_help)
        yield SystemCommand("Back", "The step before (Esc)", self.action_step_back)
        yield SystemCommand("Forward", "The furthest step reached", self.forward)
        yield SystemCommand("Quit", "Tear the mounts down and leave (q)", self.action_quit_flow)
        for name in ORDER[: self.furthest + 1]:
            yield SystemCommand(f"Go to: {name}", f"Show the {name} step",
                                lambda n=name: self.show_step(n))

    # -- what the engine reports ----------------------------------------------------------------

    def _act_now(self, message: StageReached | ConfirmFix | OutputLine | FlowEnded) -> bool:
        """Whether to act on what the engine says now: not before the operator has started
        (it is held until then, see `_go_on`)."""
        if self.held is None:
            return True
        self.held.append(message)
        return False

    def on_stage_reached(self, message: StageReached) -> None:
        if not self._act_now(message):
            return
        data = message.data
        if message.name == "passphrase":
            from rescuetui.screens.passphrase import PassphraseScreen

            self.push_screen(PassphraseScreen(data["device"]), message.reply)
        elif message.name == "found":
            self.show_step("disks").show_found(data["candidates"], data["inventory"],
                                               data["where"], message.reply,
                                               notes=data.get("notes", []))
        elif message.name == "mounted":
            self.show_step("mount").show_mounted(data["target"], data["tree"], message.reply)
        elif message.name == "evidence":
            self.journal = data["journal"]
            screen = self._screen("evidence")
            screen.ask(data["journal"], message.reply)
        elif message.name == "diagnosed":
            self._screen("evidence").show_diagnosis(data["diagnosis"], data["path"],
                                                    message.reply)
            self._screen("tree").show_path(data["path"])
        elif message.name == "checked":
            if data.get("path"):  # the checks chose the way the console text left open
                self._screen("tree").show_path(data["path"])
            self._screen("tree").show_findings(data["findings"])
        elif message.name == "verified":
            self._screen("fix").show_verified(data["plan"], data["finding"])

    def on_confirm_fix(self, message: ConfirmFix) -> None:
        if not self._act_now(message):
            return
        self._screen("fix").show_plan(message.plan, message.reply)
        tree = self._screen("tree")
        if self.screen is tree or self.furthest < ORDER.index("fix"):
            tree.fix_waiting(message.plan)
            if self.screen is not tree:
                self.show_step("tree")
        else:
            self.show_step("fix")

    def on_output_line(self, message: OutputLine) -> None:
        if not self._act_now(message):
            return
        for log in self.screen.query(StreamLog):
            log.write(message.text)
            return

    def on_flow_ended(self, message: FlowEnded) -> None:
        if message.cancelled or not self._act_now(message):
            return
        self.status = message.report.status if message.report else 1
        self.ended = message
        if self._screen_name() == "fix" and message.report is not None:
            # The verification stays in view; Enter goes on to the report.
            self._screen("fix").flow_done()
            return
        self.show_report()

    def show_report(self) -> None:
        message = self.ended
        assert message is not None
        if "report" in self.screens_by_name:
            self.show_step("report")
            return
        screen = self._step_class("report")(message.report, message.error)
        self.screens_by_name["report"] = screen  # type: ignore[assignment]
        self.install_screen(screen, name="report")
        self.furthest = ORDER.index("report")
        self.show_step("report")

    # -- training --------------------------------------------------------------------------------

    def hint_for(self, step: int) -> str:
        if not self.practice:
            return ""
        from rescuetui.lab.scenarios import SCENARIOS

        if self.practice not in SCENARIOS:
            return ""
        hints = SCENARIOS[self.practice].hints
        by_step = {4: 0, 5: 1, 6: 2}
        if step in by_step and by_step[step] < len(hints):
            return hints[by_step[step]]
        if step == 1:
            return "Symptom: " + SCENARIOS[self.practice].symptom
        return GENERAL_HINTS.get(step, "")

    def note_choice(self, changed: bool) -> None:
        if changed:
            self.note_wrong_turn("chose another system than the preselected one")

    def note_wrong_turn(self, what: str) -> None:
        if self.practice:
            self.wrong_turns.append(what)

    def record_answer(self, question: str, answer: str) -> None:
        """What the operator knows better than the logs goes into the journal."""
        if self.journal is not None:
            self.journal.decision(question, answer)

    def training_summary(self, boot_seconds: float) -> str:
        spent = time.monotonic() - self.started - boot_seconds
        turns = "; ".join(self.wrong_turns) or "none"
        return (f"Time: {spent / 60:.1f} min, keystrokes: {self.keystrokes}, "
                f"wrong turns: {len(self.wrong_turns)} ({turns})")

    def show_keys(self, keys: list[tuple[str, str]]) -> None:
        for bar in self.screen.query(KeyBar):
            bar.show_keys(keys)

    async def on_event(self, event: events.Event) -> None:
        # A key reaches the app twice (sent, then bubbling up from the focused widget).
        if isinstance(event, events.Key) and not getattr(event, "_counted", False):
            event._counted = True  # type: ignore[attr-defined]
            self.keystrokes += 1
        await super().on_event(event)

    def on_unmount(self) -> None:
        """However the app ends (quit, crash, test end): the repair unwinds and every mount
        and loop device goes before the process does."""
        self.look_ahead = False
        if self.bridge is not None and self.bridge.running:
            self.bridge.cancel()
            self.bridge.finished.wait(timeout=600)
