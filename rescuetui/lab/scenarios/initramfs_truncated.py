"""The default kernel's initramfs is cut short, as a full /boot leaves it: partial damage."""

from __future__ import annotations

from rescuetui.core.rootpath import resolve_in_root
from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import Scenario, default_kernel


def break_system(session: RescueSession, target: TargetSystem) -> str:
    path = f"/boot/initrd.img-{default_kernel(target)}"
    data = resolve_in_root(session.root, path).read_bytes()
    keep = len(data) * 2 // 3
    assert session.journal is not None
    session.journal.change_file(session.root, path, data[:keep],
                                reason="lab: initramfs truncated")
    return f"truncated {path} from {len(data)} to {keep} bytes"


SCENARIO = Scenario(
    name="initramfs-truncated",
    title="The initramfs of the default kernel is truncated (a full /boot)",
    symptom="The VM does not boot. Early on the kernel says 'Initramfs unpacking failed: read "
    "error'; later the initramfs gives up waiting for the root device and drops to a shell.",
    expected_outcome="initramfs-shell",
    expected_class="initramfs-corrupt",
    expected_fix="initramfs-rebuild",
    hints=(
        "The file is there, so it is not missing: it is damaged. Compare its size with the "
        "other kernels' images, and look at free space on /boot.",
        "lsinitramfs on the image fails part way: the archive ends early.",
        "Free space on /boot first, then rebuild the initramfs for the failing kernel.",
    ),
    break_mounted=break_system,
)
