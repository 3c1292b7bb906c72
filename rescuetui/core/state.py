"""The on-disk record of what a run has mounted and attached, so `rescuetui cleanup` can undo it."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_BASE = Path(os.environ.get("RESCUETUI_STATE_DIR", "/run/rescuetui"))
STATE_FILE = "state.json"


@dataclass
class MountRecord:
    source: str
    target: str
    fstype: str | None
    options: list[str]
    kind: str  # root, fstab, api, bind, probe


@dataclass
class SessionState:
    """Lives in /run/rescuetui/<id>/ (tmpfs: it survives a kill -9, not a reboot, like mounts)."""

    directory: Path
    pid: int = field(default_factory=os.getpid)
    pid_start: str = field(default_factory=lambda: _process_start(os.getpid()))
    started: float = field(default_factory=time.time)
    loops: list[str] = field(default_factory=list)
    mounts: list[MountRecord] = field(default_factory=list)
    # argv that closes each volume the run opened (LUKS mapping, md array, LVM group)
    opened: list[list[str]] = field(default_factory=list)

    @classmethod
    def create(cls, base: Path | None = None) -> SessionState:
        base = base or STATE_BASE
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        directory = Path(tempfile.mkdtemp(prefix=f"{stamp}-{os.getpid()}-", dir=base))
        state = cls(directory)
        state.save()
        return state

    @classmethod
    def load(cls, directory: Path) -> SessionState:
        data = json.loads((directory / STATE_FILE).read_text())
        return cls(
            directory=directory,
            pid=data["pid"],
            pid_start=data.get("pid_start", ""),
            started=data["started"],
            loops=list(data.get("loops", [])),
            mounts=[MountRecord(**m) for m in data.get("mounts", [])],
            opened=[list(a) for a in data.get("opened", [])],
        )

    def save(self) -> None:
        data: dict[str, Any] = {
            "pid": self.pid,
            "pid_start": self.pid_start,
            "started": self.started,
            "loops": self.loops,
            "mounts": [asdict(m) for m in self.mounts],
            "opened": self.opened,
        }
        tmp = self.directory / (STATE_FILE + ".tmp")
        # Atomic by rename; no fsync: /run is a tmpfs, gone at reboot together with the mounts.
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.directory / STATE_FILE)

    def owner_alive(self) -> bool:
        """Whether the run that wrote this state still runs (then cleanup leaves it alone).

        The process start time is compared too, so a recycled pid does not count as alive.
        """
        return _process_start(self.pid) == self.pid_start != ""


def _process_start(pid: int) -> str:
    """Start time of a process in clock ticks since boot (/proc/PID/stat field 22), or ''."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]


def all_sessions(base: Path | None = None) -> list[Path]:
    base = base or STATE_BASE
    if not base.is_dir():
        return []
    return sorted(p.parent for p in base.glob(f"*/{STATE_FILE}"))
