"""Two kernels (Debian 12's 6.1 and bookworm-backports' 6.12, the newest the default): a
third-party module built for the newest one only oopses in its init at boot, with oops=panic.
The previous kernel is good."""

from __future__ import annotations

from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.faulty_module import NAME, install_module, panic_on_oops
from rescuetui.lab.scenario import Scenario, default_kernel


def break_system(session: RescueSession, target: TargetSystem) -> str:
    if len(target.kernels) < 2:
        raise RuntimeError("the two-kernel practice base has fewer than two kernels")
    return "; ".join((install_module(session, default_kernel(target)), panic_on_oops(session)))


SCENARIO = Scenario(
    name="newest-kernel-panics",
    title=f"The newest kernel panics at boot in a module built for it ({NAME}); the previous "
    "kernel is good",
    symptom="The VM does not boot since its kernel update. GRUB starts the newest kernel, then "
    "'BUG: kernel NULL pointer dereference', an Oops and 'Kernel panic - not syncing: Fatal "
    "exception'. The older kernel is still installed.",
    expected_outcome="panic",
    expected_class="oops",
    expected_fix="previous-kernel",
    hints=(
        "Which kernel panicked? The 'Linux version' line and the Oops' 'Tainted:' line name it. "
        "Which kernels are installed (/boot, /lib/modules)?",
        "The trace blames an out-of-tree module ([module] on the RIP line, taint O and E). Is "
        "it installed for the other kernel too (/lib/modules/VER/updates/)?",
        "The previous kernel has no such module: make it GRUB's default (GRUB_DEFAULT with the "
        "entry's id path, then update-grub). The newest kernel stays installed for later.",
    ),
    break_mounted=break_system,
    base="two-kernels",
)
