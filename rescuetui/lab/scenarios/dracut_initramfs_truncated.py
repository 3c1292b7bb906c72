"""A system whose initramfs dracut builds: the default kernel's image is cut short."""

from __future__ import annotations

from rescuetui.lab.scenario import Scenario
from rescuetui.lab.scenarios.initramfs_truncated import break_system

SCENARIO = Scenario(
    name="dracut-initramfs-truncated",
    title="The dracut-built initramfs of the default kernel is truncated (a full /boot)",
    symptom="The VM does not boot. Early on the kernel says 'Initramfs unpacking failed: read "
    "error'; then it panics: No working init found.",
    expected_outcome="panic",
    expected_class="initramfs-corrupt",
    expected_fix="initramfs-rebuild",
    hints=(
        "The image is there but damaged: compare its size with what dracut builds, and look "
        "at free space on /boot.",
        "lsinitrd on the image fails part way (gzip: unexpected end of file).",
        "Free space on /boot first, then rebuild it: dracut --force --no-hostonly IMAGE VERSION.",
    ),
    break_mounted=break_system,
    base="dracut",
)
