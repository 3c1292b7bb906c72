"""The root filesystem has errors that the boot-time fsck cannot fix by itself."""

from __future__ import annotations

import subprocess

from rescuetui.lab.scenario import Scenario

# Two files claim the same data block: e2fsck -p (the boot-time check) stops at
# "multiply-claimed blocks" and asks for a manual run.
VICTIM, OTHER = "/etc/hostname", "/etc/issue"


def break_device(device: str) -> str:
    def debugfs(request: str, write: bool = False) -> str:
        argv = ["debugfs", *(["-w"] if write else []), "-R", request, device]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    blocks = debugfs(f"blocks {OTHER}").split()
    if not blocks:
        raise RuntimeError(f"lab: {OTHER} has no data block to share")
    # i_block of an extent-mapped inode: header (words 0-2), then the first extent, whose
    # physical start (low 32 bits) is word 5.
    debugfs(f"set_inode_field {VICTIM} block[5] {blocks[0]}", write=True)
    debugfs("ssv state 2", write=True)  # mark the filesystem as having errors
    return f"{VICTIM} now shares block {blocks[0]} with {OTHER}; filesystem marked with errors"


SCENARIO = Scenario(
    name="root-fs-errors",
    title="The root filesystem has errors that need a manual fsck",
    symptom="The VM does not boot. The console says the root filesystem check failed "
    "(UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY) and drops to a shell.",
    expected_outcome="initramfs-shell",
    expected_class="fs-boot-error",
    expected_fix="fsck",
    hints=(
        "The boot-time check (fsck -p) fixes only what is safe without asking.",
        "Never run fsck on a mounted filesystem: unmount it first (rescuetui does).",
        "e2fsck -f on the root partition; answer the questions, or -y to accept every fix.",
    ),
    break_device=break_device,
)
