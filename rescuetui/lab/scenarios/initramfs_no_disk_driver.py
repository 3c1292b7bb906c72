"""The initramfs was rebuilt on a rescue host with MODULES=dep: it carries the drivers of the
machine it was built on (a loop device there), not the VM's own disk driver (virtio_blk), so
the initramfs never finds the root disk."""

from __future__ import annotations

import re

from rescuetui.core.rootpath import resolve_in_root
from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.scenario import Scenario, default_kernel

CONF = "/etc/initramfs-tools/initramfs.conf"


def break_system(session: RescueSession, target: TargetSystem) -> str:
    assert session.journal is not None
    text = resolve_in_root(session.root, CONF).read_text()
    changed = re.sub(r"^MODULES=\S+", "MODULES=dep", text, flags=re.M)
    session.journal.change_file(session.root, CONF, changed.encode(),
                                reason="lab: MODULES=dep, as a tuned image has it")
    kernel = default_kernel(target)
    result = session.runner.run_blocking(["update-initramfs", "-u", "-k", kernel], in_chroot=True)
    if not result.ok:
        raise RuntimeError(result.describe_failure())
    return f"set MODULES=dep in {CONF} and rebuilt the initramfs of {kernel} on the lab host"


SCENARIO = Scenario(
    name="initramfs-no-disk-driver",
    title="The initramfs was built elsewhere with MODULES=dep and lacks the VM's disk driver",
    symptom="The VM does not boot. The kernel starts, the initramfs waits for the root disk "
    "('Gave up waiting for root file system device'), then 'ALERT! UUID=... does not exist. "
    "Dropping to a shell!' and an (initramfs) prompt.",
    expected_outcome="initramfs-shell",
    expected_class="initramfs-root-missing",
    expected_fix="initramfs-rebuild",
    hints=(
        "The initramfs ran but never saw the root disk: no disk driver, or the wrong UUID.",
        "Which disk does the VM have? The console's PCI lines tell ([1af4:1001] is a virtio "
        "block device: virtio_blk). Does the initramfs carry that driver (lsinitramfs)? The "
        "rescue host's own disk says nothing about the VM's.",
        "MODULES=dep in /etc/initramfs-tools/initramfs.conf takes the drivers of the machine "
        "the image is built on. Set MODULES=most, list the VM's driver in "
        "/etc/initramfs-tools/modules, rebuild, and check the listing.",
    ),
    break_mounted=break_system,
)
