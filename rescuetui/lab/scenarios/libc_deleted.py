"""libc itself is deleted: init cannot start (exit 127), and nothing at all runs in a chroot,
so the package manager cannot reinstall it either; the files must come back from the host."""

from __future__ import annotations

from rescuetui.core.errors import RescueError
from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import Scenario

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def break_system(session: RescueSession, target: TargetSystem) -> str:
    if not (session.root / LIBC.lstrip("/")).is_file():
        raise RescueError(f"lab: the practice base has no {LIBC}")
    assert session.journal is not None
    session.journal.remove_file(session.root, LIBC, reason="lab: libc deleted")
    return f"deleted {LIBC}"


SCENARIO = Scenario(
    name="libc-deleted",
    title="libc itself was deleted",
    symptom="The VM does not boot. The serial console ends in a kernel panic: "
    "Attempted to kill init! exitcode=0x00007f00. In a chroot, every command fails.",
    expected_outcome="panic",
    expected_class="init-killed",
    expected_fix="package-reinstall",
    hints=(
        "exitcode=0x00007f00 is exit status 127: a program, or a library it needs, is missing.",
        "chroot fails for every command, even `true`: the dynamic loader or libc is gone, so "
        "no package manager can run inside the target.",
        "dpkg's file list of libc6 (/var/lib/dpkg/info/libc6:amd64.list) says which files "
        "should be there; take them from the libc6 archive in /var/cache/apt/archives with "
        "dpkg-deb on the rescue host, then reinstall libc6 properly.",
    ),
    break_mounted=break_system,
)
