"""The dynamic loader lost its execute bits: no dynamically linked program can start, init
included, and in the rescue chroot neither can the shell."""

from __future__ import annotations

from rescuetui.core.rootpath import resolve_in_root, target_path
from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import Scenario

LOADER = "/lib64/ld-linux-x86-64.so.2"


def break_system(session: RescueSession, target: TargetSystem) -> str:
    path = target_path(session.root, resolve_in_root(session.root, LOADER))
    mode = resolve_in_root(session.root, path).stat().st_mode & 0o7777
    assert session.journal is not None
    session.journal.change_mode(session.root, path, mode & ~0o111,
                                reason="lab: loader not executable")
    return f"chmod a-x {path} (was {mode:04o})"


SCENARIO = Scenario(
    name="loader-not-executable",
    title="The dynamic loader is not executable",
    symptom="The VM does not boot. The kernel starts, the initramfs mounts root, and then init "
    "fails to run.",
    expected_outcome="panic",
    expected_class="init-killed",
    expected_fix="permissions-restore",
    hints=(
        "Every dynamically linked program is started by the loader named in its ELF header. "
        "If the loader cannot be executed, nothing can.",
        "In the rescue chroot even the shell fails the same way: repair it from the host side.",
        "Compare the loader's mode with what the libc6 package ships (0755).",
    ),
    break_mounted=break_system,
)
