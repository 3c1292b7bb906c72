"""The default kernel's initramfs is gone: the kernel boots alone and cannot mount root."""

from __future__ import annotations

from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import Scenario, default_kernel


def break_system(session: RescueSession, target: TargetSystem) -> str:
    kernel = default_kernel(target)
    path = f"/boot/initrd.img-{kernel}"
    assert session.journal is not None
    session.journal.remove_file(session.root, path, reason="lab: initramfs deleted")
    return f"deleted {path}"


SCENARIO = Scenario(
    name="initramfs-deleted",
    title="The initramfs of the default kernel was deleted",
    symptom="The VM does not boot. The serial console ends in a kernel panic: "
    "VFS: Unable to mount root fs on unknown-block(0,0).",
    expected_outcome="panic",
    expected_class="vfs-root",
    expected_fix="initramfs-rebuild",
    hints=(
        "unknown-block(0,0) means the kernel found no block device at all for root=: the "
        "drivers for the disk live in the initramfs.",
        "Look in /boot: is there an initrd.img for the kernel that panicked?",
        "Rebuild it for that exact kernel version: update-initramfs -c -k VERSION.",
    ),
    break_mounted=break_system,
)
