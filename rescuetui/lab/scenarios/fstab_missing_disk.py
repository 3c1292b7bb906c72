"""/etc/fstab names a data disk that is not attached, without nofail: emergency mode."""

from __future__ import annotations

import uuid

from rescuetui.core.rootpath import resolve_in_root
from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import Scenario


def break_system(session: RescueSession, target: TargetSystem) -> str:
    fstab = resolve_in_root(session.root, "/etc/fstab").read_bytes()
    line = f"UUID={uuid.uuid4()} /data ext4 defaults 0 2\n"
    assert session.journal is not None
    session.journal.change_file(session.root, "/etc/fstab", fstab + line.encode(),
                                reason="lab: fstab names a missing data disk")
    return f"added to /etc/fstab: {line.strip()}"


SCENARIO = Scenario(
    name="fstab-missing-disk",
    title="/etc/fstab names a data disk that is not attached",
    symptom="The VM does not come up. After a long wait the serial console shows: "
    "Timed out waiting for device, Dependency failed for /data, You are in emergency mode.",
    expected_outcome="emergency",
    expected_class="fs-boot-error",
    expected_fix="fstab-nofail",
    hints=(
        "systemd waits 90 seconds for every device in /etc/fstab unless the entry has nofail.",
        "Which fstab entry names a device that is not on any attached disk?",
        "Add nofail to a data disk's entry (or comment it out); never delete the line.",
    ),
    break_mounted=break_system,
)
