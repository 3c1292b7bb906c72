"""A system whose initramfs dracut builds: root= in grub.cfg names a filesystem UUID that is on
no disk (a disk cloned and given new UUIDs, grub.cfg not regenerated). dracut waits for it,
gives up after rd.retry (three minutes) and runs its timeout scripts, waiting on forever."""

from __future__ import annotations

import re

from rescuetui.core.errors import RescueError
from rescuetui.core.rootpath import resolve_in_root
from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import Scenario

GONE = "0badc0de-0000-4000-8000-00000000dead"
CONFIG = "/boot/grub/grub.cfg"


def break_system(session: RescueSession, target: TargetSystem) -> str:
    text = resolve_in_root(session.root, CONFIG).read_text()
    changed, count = re.subn(r"root=UUID=[0-9a-f-]+", f"root=UUID={GONE}", text)
    if not count:
        raise RescueError(f"lab: {CONFIG} of the dracut base has no root=UUID= to change")
    assert session.journal is not None
    session.journal.change_file(session.root, CONFIG, changed.encode(),
                                reason="lab: root= names a UUID on no disk")
    return f"root=UUID={GONE} in {count} entries of {CONFIG}"


SCENARIO = Scenario(
    name="dracut-root-uuid-wrong",
    title="dracut: root= names a filesystem UUID that is on no disk",
    symptom="The VM does not boot. The console shows a job waiting for a disk by UUID with no "
    "limit, then, minutes later, 'dracut-initqueue: timeout, still waiting for following "
    "initqueue hooks' and 'starting timeout scripts', over and over.",
    expected_outcome="initramfs-wait",
    expected_class="initramfs-root-missing",
    expected_fix="bootloader-root",
    hints=(
        "dracut's initqueue waited for the device root= names and it never came: which UUID "
        "did it wait for (the 'Kernel command line:' line, the time-out message)?",
        "blkid in the rescue system lists the UUIDs that exist: compare them with root= in "
        "/boot/grub/grub.cfg.",
        "Regenerate grub.cfg (grub-mkconfig -o /boot/grub/grub.cfg) and check root= names the "
        "root filesystem's UUID.",
    ),
    break_mounted=break_system,
    base="dracut",
    boot_timeout=400.0,
)
