"""init=/bin/bash was left on the kernel command line (after a root password reset): the
system boots to a bare root shell, never to its login."""

from __future__ import annotations

import re

from rescuetui.core.rootpath import resolve_in_root
from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import BreakMounted, Scenario

PARAM = "init=/bin/bash"


def left_on_cmdline(param: str) -> BreakMounted:
    """A break that adds `param` to GRUB_CMDLINE_LINUX and to every entry of grub.cfg."""
    def break_system(session: RescueSession, target: TargetSystem) -> str:
        assert session.journal is not None
        for path, pattern, tail in (("/etc/default/grub", r'^(GRUB_CMDLINE_LINUX=".*)"$', '"'),
                                    ("/boot/grub/grub.cfg", r"^(\s*linux\s+/vmlinuz\S*\s.*)$",
                                     "")):
            text = resolve_in_root(session.root, path).read_text()

            def add(match: re.Match[str], end: str = tail) -> str:
                return match.group(1).rstrip() + f" {param}{end}"

            changed = re.sub(pattern, add, text, flags=re.M)
            session.journal.change_file(session.root, path, changed.encode(),
                                        reason=f"lab: {param} left on the command line")
        return f"added {param} to GRUB_CMDLINE_LINUX and to every entry of grub.cfg"
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
