"""GRUB's config is gone: GRUB starts, finds no menu, and waits at its `grub>` prompt."""

from __future__ import annotations

from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import Scenario

CONFIG = "/boot/grub/grub.cfg"


def break_system(session: RescueSession, target: TargetSystem) -> str:
    assert session.journal is not None
    session.journal.remove_file(session.root, CONFIG, reason="lab: GRUB config deleted")
    return f"deleted {CONFIG}"


SCENARIO = Scenario(
    name="grub-cfg-deleted",
    title="GRUB's config file was deleted",
    symptom="The VM does not boot. The serial console shows GRUB's 'Minimal BASH-like line "
    "editing is supported' and a bare 'grub>' prompt; no menu, no kernel.",
    expected_outcome="grub-error",
    expected_class="grub",
    expected_fix="bootloader-regenerate",
    hints=(
        "GRUB itself runs (its boot code and modules are fine): it found its directory but no "
        "grub.cfg in it, so it has no menu to show.",
        "Look in /boot/grub: is grub.cfg there?",
        "Regenerate it with the system's own generator (grub-mkconfig -o /boot/grub/grub.cfg, "
        "update-grub), then check root= in it: from a rescue host without udev it names the "
        "rescue host's device.",
    ),
    break_mounted=break_system,
    kernel_in_console=False,
)
