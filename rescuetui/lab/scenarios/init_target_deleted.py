"""The file /sbin/init leads to (systemd itself) is deleted; the link is still there, and the
package that owns the link (systemd-sysv) is not the one to reinstall."""

from __future__ import annotations

from rescuetui.core.errors import RescueError
from rescuetui.core.rootpath import resolve_in_root, target_path
from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import Scenario


def break_system(session: RescueSession, target: TargetSystem) -> str:
    init = resolve_in_root(session.root, "/sbin/init")
    link = resolve_in_root(session.root, "/sbin/init", follow_last=False)
    if not init.is_file() or not link.is_symlink():
        raise RescueError("lab: /sbin/init of the practice base is not a link to a program")
    real = target_path(session.root, init)
    assert session.journal is not None
    session.journal.remove_file(session.root, real, reason="lab: the program init leads to "
                                "deleted")
    return f"deleted {real} (/sbin/init still links to it)"


SCENARIO = Scenario(
    name="init-target-deleted",
    title="The program /sbin/init links to was deleted",
    symptom="The VM does not boot to a login. The serial console says 'Target filesystem "
    "doesn't have requested /sbin/init.' and ends in a bare '#' prompt: the initramfs ran "
    "/bin/sh as init.",
    expected_outcome="init-shell",
    expected_class="init-killed",
    expected_fix="package-reinstall",
    hints=(
        "/sbin/init is a link. ls -l it in the chroot: does what it points to exist?",
        "The package that owns the link (dpkg -S /sbin/init) is not the one that owns the "
        "program behind it: ask dpkg -S about the link's target.",
        "Reinstall the package that owns the missing program.",
    ),
    break_mounted=break_system,
)
