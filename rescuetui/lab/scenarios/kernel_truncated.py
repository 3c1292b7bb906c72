"""The default kernel's image is cut in half: GRUB cannot load it."""

from __future__ import annotations

import os

from rescuetui.core.rootpath import resolve_in_root
from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import Scenario, default_kernel


def break_system(session: RescueSession, target: TargetSystem) -> str:
    path = f"/boot/vmlinuz-{default_kernel(target)}"
    host_path = resolve_in_root(session.root, path)
    data = host_path.read_bytes()
    assert session.journal is not None
    session.journal.change_file(session.root, path, data[: len(data) // 2],
                                reason="lab: kernel image truncated")
    os.sync()
    return f"truncated {path} from {len(data)} to {len(data) // 2} bytes"


SCENARIO = Scenario(
    name="kernel-truncated",
    title="The default kernel image is truncated",
    symptom="The VM does not boot. The serial console shows GRUB's 'Loading Linux ...' and "
    "'Loading initial ramdisk ...', then the machine resets; not one kernel message appears.",
    expected_outcome="reboot",
    expected_class="grub",
    expected_fix="kernel-reinstall",
    hints=(
        "GRUB loaded the kernel file, but the kernel never printed a line: the image itself is "
        "damaged (its decompressor ran out of data), not missing.",
        "Compare the file's size with the one the package ships: dpkg --verify on the kernel "
        "package names it.",
        "Reinstall the kernel package from the package cache: apt-get install --reinstall.",
    ),
    break_mounted=break_system,
)
