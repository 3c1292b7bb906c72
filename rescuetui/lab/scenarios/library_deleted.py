"""A shared library that systemd (init) needs is deleted: init cannot start, exit 127."""

from __future__ import annotations

from rescuetui.core.errors import RescueError
from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import Scenario


def break_system(session: RescueSession, target: TargetSystem) -> str:
    ldd = session.runner.run_blocking(["ldd", "/lib/systemd/systemd"], in_chroot=True)
    library = next((line.split("=>")[1].split()[0] for line in ldd.tail
                    if "libsystemd-shared" in line and "=>" in line), None)
    if library is None:
        raise RescueError("lab: systemd of the practice base links no libsystemd-shared")
    assert session.journal is not None
    session.journal.remove_file(session.root, library, reason="lab: library init needs deleted")
    return f"deleted {library}"


SCENARIO = Scenario(
    name="library-deleted",
    title="A shared library that init needs was deleted",
    symptom="The VM does not boot. The serial console ends in a kernel panic: "
    "Attempted to kill init! exitcode=0x00007f00.",
    expected_outcome="panic",
    expected_class="init-killed",
    expected_fix="package-reinstall",
    hints=(
        "exitcode=0x00007f00 is exit status 127: a program, or a library it needs, is missing.",
        "The init program is /sbin/init, a link to systemd. Run ldd on it in the chroot: which "
        "library is 'not found'?",
        "Find the package that owns the library (dpkg -S) and reinstall it.",
    ),
    break_mounted=break_system,
)
