"""init=/bin/bash was left on the kernel command line (after a root password reset): the
system boots to a bare root shell, never to its login."""

from __future__ import annotations

from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.practice import add_kernel_parameter
from rescuetui.lab.scenario import BreakMounted, Scenario

PARAM = "init=/bin/bash"


def left_on_cmdline(param: str) -> BreakMounted:
    """A break that adds `param` to GRUB_CMDLINE_LINUX and to every entry of grub.cfg."""
    def break_system(session: RescueSession, target: TargetSystem) -> str:
        return add_kernel_parameter(session, param, f"{param} left on the command line")
    return break_system


SCENARIO = Scenario(
    name="bad-init",
    title="init=/bin/bash was left on the kernel command line",
    symptom="The VM boots, but the serial console ends in 'bash: no job control in this "
    "shell' and a root prompt; no services start and no login prompt ever appears.",
    expected_outcome="init-shell",
    expected_class="boot-stopped",
    expected_fix="kernel-cmdline",
    hints=(
        "The kernel ran the program named by init= instead of systemd: a shell, as a root "
        "password reset leaves it.",
        "Read the 'Kernel command line:' line of the console, then the entry in "
        "/boot/grub/grub.cfg and GRUB_CMDLINE_LINUX in /etc/default/grub.",
        "Remove init=/bin/bash from both: the entry boots now, and the next update-grub does "
        "not bring it back.",
    ),
    break_mounted=left_on_cmdline(PARAM),
)
