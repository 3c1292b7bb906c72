"""GRUB's i386-pc module directory is gone: the core image cannot load normal.mod and stops
at `grub rescue>`."""

from __future__ import annotations

from rescuetui.core.rootpath import resolve_in_root
from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import Scenario

MODULES = "/boot/grub/i386-pc"


def break_system(session: RescueSession, target: TargetSystem) -> str:
    assert session.journal is not None
    directory = resolve_in_root(session.root, MODULES)
    names = sorted(p.name for p in directory.iterdir())
    for name in names:
        session.journal.remove_file(session.root, f"{MODULES}/{name}",
                                    reason="lab: GRUB's modules deleted")
    directory.rmdir()
    return f"deleted {MODULES} ({len(names)} files)"


SCENARIO = Scenario(
    name="grub-modules-deleted",
    title="GRUB's modules (/boot/grub/i386-pc) were deleted",
    symptom="The VM does not boot. The serial console shows \"error: file "
    "`/grub/i386-pc/normal.mod' not found\", 'Entering rescue mode...' and 'grub rescue>'.",
    expected_outcome="grub-error",
    expected_class="grub",
    expected_fix="grub-reinstall",
    hints=(
        "grub rescue> is GRUB's core image alone: it could not load normal.mod, so it has no "
        "menu, no config and almost no commands.",
        "The core image looks for its modules in /boot/grub/i386-pc: is that directory there?",
        "Reinstall GRUB on the disk (grub-install --target=i386-pc DISK): it writes the boot "
        "code and the core image again and copies the modules back from /usr/lib/grub.",
    ),
    break_mounted=break_system,
    kernel_in_console=False,
)
