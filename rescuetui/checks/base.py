"""What a check is given (the mounted target) and what it returns (a finding with evidence)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rescuetui.core.confined import ConfinedRoot
from rescuetui.core.distros import DistroFamily, family_for
from rescuetui.core.elf_deps import shell_resolves
from rescuetui.core.initramfs_builder import InitramfsBuilder, target_builder
from rescuetui.core.runner import CommandResult, CommandRunner
from rescuetui.core.target import TargetSystem


@dataclass
class TargetContext:
    """The mounted target as checks and fixes see it."""

    root: Path
    target: TargetSystem
    runner: CommandRunner
    kernel: str  # the kernel to work on: the one that failed, else the default one
    # The disk drivers of the machine the system boots on (virtio_blk, hv_storvsc, nvme), and
    # the evidence they were read from: the console log, the system's logs of earlier boots.
    machine_drivers: list[str] = field(default_factory=list)
    machine_evidence: list[str] = field(default_factory=list)

    @property
    def family(self) -> DistroFamily | None:
        return family_for(self.target.os_release)

    @property
    def initramfs_builder(self) -> InitramfsBuilder | None:
        """The initramfs builder the target has installed and can run (None: none at all)."""
        family = self.family
        return target_builder(self.root, family.name if family else None)

    @property
    def files(self) -> ConfinedRoot:
        """The target's files, every access resolved inside its root (core/confined.py)."""
        return ConfinedRoot(self.root)

    def chroot(self, *argv: str, timeout: float = 300.0) -> CommandResult:
        return self.runner.run_blocking(list(argv), in_chroot=True, timeout=timeout)

    def reread_boot_chain(self) -> None:
        """Read the boot chain again: a fix may have written boot code or boot files."""
        if self.target.boot_chain is not None:
            self.target.boot_chain = self.target.boot_chain.reread(self.root)

    def shell_resolves(self) -> bool:
        """Whether anything can run in the chroot at all (a broken loader or libc stops all),
        answered on the host from ELF headers: /bin/sh, its loader and libraries whole."""
        return shell_resolves(self.files)


def unchecked(check: str, why: str) -> Finding:
    """A check that could not look: a problem to report, but none to fix by itself."""
    return Finding(check, False, "unchecked", f"Could not check: {why}")


@dataclass
class Finding:
    """What one check found. `finding` is the word the decision tree branches on."""

    check: str
    ok: bool
    finding: str  # "ok", or the problem: missing, truncated, wrong, missing-device, ...
    summary: str
    evidence: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # what a fix needs (paths, packages)

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "ok": self.ok, "finding": self.finding,
                "summary": self.summary, "evidence": self.evidence, "data": self.data}
