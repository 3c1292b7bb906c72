"""`rescuetui cleanup`: take down what a killed run left behind (mounts, loop devices)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rescuetui.core.mountstack import kill_processes_inside, teardown_state
from rescuetui.core.session import remove_session_dirs
from rescuetui.core.state import SessionState, all_sessions


@dataclass
class CleanupReport:
    session: str
    mounts: int
    loops: list[str]
    processes_stopped: int = 0
    problems: list[str] = field(default_factory=list)
    skipped_alive: bool = False


def cleanup_sessions(base: Path | None = None) -> list[CleanupReport]:
    """Tear down every recorded session whose process is gone; leave running ones alone."""
    reports = []
    for directory in all_sessions(base):
        try:
            state = SessionState.load(directory)
        except (OSError, ValueError, KeyError) as exc:
            reports.append(CleanupReport(directory.name, 0, [], problems=[
                f"state file in {directory} is unreadable ({exc}); unmount what is below it by "
                "hand (`grep rescuetui /proc/mounts`)"]))
            continue
        report = CleanupReport(directory.name, len(state.mounts), list(state.loops))
        if state.owner_alive():
            report.skipped_alive = True
            reports.append(report)
            continue
        report.processes_stopped = kill_processes_inside(directory)
        report.problems = teardown_state(state)
        if not report.problems:
            remove_session_dirs(directory)
        reports.append(report)
    return reports
