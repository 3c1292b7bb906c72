"""`rescuetui lab verify`: build a scenario, boot it, repair it, boot it again."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rescuetui.core.volumes import device_mapper_available
from rescuetui.lab.boot import BootResult, boot
from rescuetui.lab.scenario import Scenario, build_scenario


@dataclass
class Verification:
    scenario: str
    before: BootResult | None = None
    repair: str = "pending"
    after: BootResult | None = None
    seconds: float = 0.0
    expected: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def failure_as_expected(self) -> bool:
        return self.before is not None and self.before.outcome == self.expected

    @property
    def repaired(self) -> bool:
        return self.repair == "ok" and self.after is not None and self.after.outcome == "login"

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "expected": self.expected,
            "before": self.before.to_json() if self.before else None,
            "failure_as_expected": self.failure_as_expected,
            "repair": self.repair,
            "after": self.after.to_json() if self.after else None,
            "repaired": self.repaired,
            "seconds": round(self.seconds, 1),
            "problems": self.problems,
        }


def verify(scenario: Scenario, workdir: Path) -> Verification:
    started = time.monotonic()
    result = Verification(scenario.name, expected=scenario.expected_outcome)
    image = workdir / f"{scenario.name}.img"
    build_scenario(scenario, image, journal_base=workdir / "journal")
    result.before = boot(image, timeout=scenario.boot_timeout, firmware=scenario.firmware)
    serial = workdir / f"{scenario.name}.before.log"
    serial.write_text(result.before.log)
    if scenario.base == "xfslvm" and not device_mapper_available():
        # Its root is a logical volume: the repair must activate it, which this kernel cannot.
        result.repair = "not run"
        result.problems.append(
            "this host's kernel has no device-mapper, so the repair cannot activate the root "
            "volume here: run it inside the live image with iso/xfslvm_e2e.py "
            "(make iso-xfslvm-e2e)")
        result.seconds = time.monotonic() - started
        return result
    # The repair as an operator runs it: the command line, the serial log, --yes.
    repair_log = workdir / f"{scenario.name}.repair.log"
    with open(repair_log, "wb") as out:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "rescuetui"), "repair", "--disk", str(image),
             "--log", str(serial), "--yes", "--journal", str(workdir / "journal")],
            stdout=out, stderr=subprocess.STDOUT, check=False)
    result.repair = "ok" if done.returncode == 0 else f"exit {done.returncode}"
    result.after = boot(image, timeout=scenario.boot_timeout, firmware=scenario.firmware)
    (workdir / f"{scenario.name}.after.log").write_text(result.after.log)
    result.seconds = time.monotonic() - started
    return result
