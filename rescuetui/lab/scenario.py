"""What a practice scenario is, and how its broken disk image is built from the practice base."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem

BreakMounted = Callable[[RescueSession, TargetSystem], str]
BreakDevice = Callable[[str], str]
BreakImage = Callable[[Path], str]


@dataclass(frozen=True)
class Scenario:
    """A practice system broken in one known way.

    `break_mounted` changes the image through a read-write rescue session (its changes are
    journaled like any other); `break_device` works on the unmounted root filesystem's device
    (for damage only a filesystem tool can make); `break_image` works on the disk image file
    itself, with no rescue session at all: for a system the build host cannot open (a root on
    LVM where the host has no device-mapper), it reaches the filesystems through loop devices
    at their offsets. Each returns a sentence saying what it did.
    """

    name: str
    title: str
    symptom: str  # what the trainee is told
    expected_outcome: str  # boot outcome id (rescuetui.lab.boot.OUTCOMES)
    expected_class: str  # panic class id the diagnosis should name
    expected_fix: str  # the fix that repairs it
    hints: tuple[str, ...]
    break_mounted: BreakMounted | None = None
    break_device: BreakDevice | None = None
    break_image: BreakImage | None = None
    boot_timeout: float = 300.0
    notes: tuple[str, ...] = field(default=())
    # False where the failure comes before any kernel starts (the boot loader's): then the
    # console names no kernel.
    kernel_in_console: bool = True
    # "bios": built from the practice base, booted under SeaBIOS; "uefi": built from the UEFI
    # base (rescuetui.lab.uefi), booted under OVMF with a fresh NVRAM.
    firmware: str = "bios"
    # The practice base the disk is copied from (base_image names them); "" is the one
    # of its firmware: "practice" for BIOS, "uefi" for UEFI.
    base: str = ""


def default_kernel(target: TargetSystem) -> str:
    """The kernel the practice base boots: its newest."""
    if not target.kernels:
        raise RuntimeError("the practice base has no kernel")
    return target.kernels[0].version


def base_image(name: str) -> Path:
    """The cached practice base called `name`, built when missing."""
    from rescuetui.lab.dracut import dracut_base
    from rescuetui.lab.practice import practice_base
    from rescuetui.lab.two_kernels import two_kernel_base
    from rescuetui.lab.uefi import uefi_base
    from rescuetui.lab.xfslvm import xfslvm_base

    bases: dict[str, Callable[[], Path]] = {
        "practice": practice_base, "uefi": uefi_base, "dracut": dracut_base,
        "two-kernels": two_kernel_base, "xfslvm": xfslvm_base}
    return bases[name]()


def build_scenario(scenario: Scenario, output: Path, journal_base: Path | None = None) -> list[str]:
    """Copy the practice base of the scenario's firmware to `output` and break it; returns
    what was done."""
    from rescuetui.lab.practice import copy_image

    copy_image(base_image(scenario.base or ("uefi" if scenario.firmware == "uefi" else
                                            "practice")), output)
    if scenario.break_image is not None:
        return [scenario.break_image(output)]
    done = []
    with RescueSession(journal_base=journal_base) as session:
        target = session.open_target(str(output))
        if scenario.break_mounted is not None:
            session.make_writable()
            assert session.journal is not None
            session.journal.decision(f"lab: break the system ({scenario.name})", scenario.title)
            done.append(scenario.break_mounted(session, target))
        root_device = target.device
        if scenario.break_device is not None:
            # The mounts go, the loop device stays attached for the filesystem tool.
            while session.stack.records:
                session.stack.unmount_last()
            done.append(scenario.break_device(root_device))
    return done
