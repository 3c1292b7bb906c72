"""A system whose initramfs dracut builds: the default kernel's image is gone."""

from __future__ import annotations

from rescuetui.lab.scenario import Scenario
from rescuetui.lab.scenarios.initramfs_deleted import break_system

SCENARIO = Scenario(
    name="dracut-initramfs-deleted",
    title="The dracut-built initramfs of the default kernel was deleted",
    symptom="The VM does not boot. The serial console ends in a kernel panic: "
    "VFS: Unable to mount root fs on unknown-block(0,0).",
    expected_outcome="panic",
    expected_class="vfs-root",
    expected_fix="initramfs-rebuild",
    hints=(
        "unknown-block(0,0): the kernel found no block device for root=; its drivers live in "
        "the initramfs.",
        "Which builder makes this system's initramfs? initramfs-tools was removed (its "
        "/etc/initramfs-tools is left over); dpkg -l dracut says dracut is installed.",
        "Rebuild it for that exact kernel, generic, not host-only (from a rescue host, host-only "
        "would take the rescue host's drivers): dracut --force --no-hostonly IMAGE VERSION.",
    ),
    break_mounted=break_system,
    base="dracut",
)
