"""The byte budget of a serial console, measured in a pseudo-terminal at 80x24 with
TERM=vt220 on a real practice disk (initramfs deleted), driven as an operator would from
launch to a verified fix; and under TERM=linux, every character is ASCII or CP437."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import rescuetui_exe

from rescuetui.lab.serial_budget import (
    FIRST_SCREEN_BUDGET,
    MOVE_BUDGET,
    STREAM_BUDGET,
    measure_rescuetui,
)

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _broken(tmp_path: Path) -> Path:
    from rescuetui.lab.scenario import build_scenario
    from rescuetui.lab.scenarios import SCENARIOS

    image = tmp_path / "initramfs-deleted.img"
    build_scenario(SCENARIOS["initramfs-deleted"], image, journal_base=tmp_path / "build")
    return image


# The Linux console's run (30 s) is the same flow as vt220's: `make e2e` runs it (marker `long`).
@pytest.mark.parametrize("term", ["vt220", pytest.param("linux", marks=pytest.mark.long)])
def test_budget_from_launch_to_a_verified_fix(tmp_path: Path, term: str) -> None:
    m = measure_rescuetui(rescuetui_exe(), _broken(tmp_path), term=term,
                          journal=tmp_path / "journal")
    print(f"\n{term}: first screen {m.first_screen} B, moves {m.moves} B, "
          f"stream {m.stream_rate:.0f} B/s, {m.keystrokes_to_verified} keys")
    assert m.verified and m.exit_status == 0
    assert m.keystrokes_to_verified <= 10
    assert m.first_screen <= FIRST_SCREEN_BUDGET
    assert max(m.moves) <= MOVE_BUDGET
    assert m.stream_rate <= STREAM_BUDGET
    assert m.non_cp437 == set(), sorted(m.non_cp437)
