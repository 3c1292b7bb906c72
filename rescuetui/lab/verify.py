"""`rescuetui lab verify`: build a scenario, boot it, repair it, boot it again."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rescuetui.lab.boot import BootResult, boot
from rescuetui.lab.scenario import Scenario, build_scenario


@dataclass
class Verification:
    scenario: str
    before: BootResult | None = None
    repair: str = "pending"  # pending until `rescuetui repair` exists (issue 5)
    after: BootResult | None = None
    seconds: float = 0.0
    expected: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def failure_as_expected(self) -> bool:
        return self.before is not None and self.before.outcome == self.expected

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "expected": self.expected,
            "before": self.before.to_json() if self.before else None,
            "failure_as_expected": self.failure_as_expected,
            "repair": self.repair,
            "after": self.after.to_json() if self.after else None,
            "seconds": round(self.seconds, 1),
            "problems": self.problems,
        }


def verify(scenario: Scenario, workdir: Path) -> Verification:
    started = time.monotonic()
    result = Verification(scenario.name, expected=scenario.expected_outcome)
    image = workdir / f"{scenario.name}.img"
    build_scenario(scenario, image, journal_base=workdir / "journal")
    result.before = boot(image, timeout=scenario.boot_timeout)
    (workdir / f"{scenario.name}.before.log").write_text(result.before.log)
    # `rescuetui repair` does not exist yet (issue 5): the repair and the second boot stay
    # pending, and are reported as pending, not as passed.
    result.seconds = time.monotonic() - started
    return result
