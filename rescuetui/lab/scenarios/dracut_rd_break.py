"""rd.break was left on the kernel command line (after debugging the initramfs): dracut stops
before switching to the root filesystem, at every boot, in its emergency shell."""

from __future__ import annotations

from rescuetui.lab.scenario import Scenario
from rescuetui.lab.scenarios.bad_init import left_on_cmdline

SCENARIO = Scenario(
    name="dracut-rd-break",
    title="dracut: rd.break was left on the kernel command line",
    symptom="The VM never reaches its login: the console ends in dracut's emergency shell "
    "(\"Entering emergency mode\", a dracut prompt) with no error before it.",
    expected_outcome="initramfs-shell",
    expected_class="boot-stopped",
    expected_fix="kernel-cmdline",
    hints=(
        "Nothing failed: the initramfs was told to stop. dracut's rd.* parameters steer it.",
        "Read the 'Kernel command line:' line of the console: rd.break stops before root is "
        "switched to (rd.shell, rd.emergency and systemd.unit=emergency.target do the like).",
        "Remove rd.break from GRUB_CMDLINE_LINUX in /etc/default/grub and from the entries in "
        "/boot/grub/grub.cfg.",
    ),
    break_mounted=left_on_cmdline("rd.break"),
    base="dracut",
)
