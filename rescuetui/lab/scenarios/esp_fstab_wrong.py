"""UEFI: /etc/fstab names the ESP by a UUID that no filesystem has (a recreated ESP, a disk
image rebuilt): systemd waits for /boot/efi and stops in emergency mode."""

from __future__ import annotations

import re

from rescuetui.core.rootpath import resolve_in_root
from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import Scenario

WRONG = "0BAD-C0DE"


def break_system(session: RescueSession, target: TargetSystem) -> str:
    assert session.journal is not None
    text = resolve_in_root(session.root, "/etc/fstab").read_text()
    changed = re.sub(r"^UUID=\S+(\s+/boot/efi\s)", rf"UUID={WRONG}\1", text, flags=re.M)
    if changed == text:
        raise RuntimeError("the UEFI practice base's fstab has no /boot/efi entry")
    session.journal.change_file(session.root, "/etc/fstab", changed.encode(),
                                reason="lab: the ESP's fstab UUID made wrong")
    return f"/boot/efi in /etc/fstab now names UUID={WRONG}"


SCENARIO = Scenario(
    name="esp-fstab-wrong",
    title="UEFI: /etc/fstab names the EFI system partition by a wrong UUID",
    symptom="The VM boots the kernel, then waits a minute and a half for a device and stops "
    "in emergency mode: 'Timed out waiting for device /dev/disk/by-uuid/0BAD-C0DE'.",
    expected_outcome="emergency",
    expected_class="fs-boot-error",
    expected_fix="fstab-correct-uuid",
    hints=(
        "The boot got far: GRUB and the kernel ran, root was mounted. systemd then waited for "
        "a device named in /etc/fstab.",
        "Which fstab line names the UUID in the timeout message? Compare it with the UUIDs the "
        "disk's filesystems really have (blkid, or rescuetui scan).",
        "The disk has exactly one FAT filesystem on its EFI system partition: point the "
        "/boot/efi line at its UUID. Comment lines out rather than delete them.",
    ),
    break_mounted=break_system,
    firmware="uefi",
    boot_timeout=360.0,
)
