"""Bytes written to a serial console: rescuetui at 80x24, TERM=vt220, from launch to a verified
fix on the initramfs-deleted practice disk, beside whiptail showing the same three-item menu
and moving its highlight the same way. Prints both, and the budgets (issue 6).

Run as root: `make bench`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from rescuetui.lab.serial_budget import (
    FIRST_SCREEN_BUDGET,
    MOVE_BUDGET,
    STREAM_BUDGET,
    measure_rescuetui,
    measure_whiptail,
)


def main() -> int:
    from rescuetui.lab.scenario import build_scenario
    from rescuetui.lab.scenarios import SCENARIOS

    exe = str(Path(sys.executable).parent / "rescuetui")
    with tempfile.TemporaryDirectory(prefix="rescuetui-bench-") as tmp:
        image = Path(tmp) / "initramfs-deleted.img"
        build_scenario(SCENARIOS["initramfs-deleted"], image, journal_base=Path(tmp) / "build")
        ours = measure_rescuetui(exe, image, journal=Path(tmp) / "journal")
    theirs = measure_whiptail() if shutil.which("whiptail") else None
    print("serial console bytes, 80x24, TERM=vt220")
    print(f"{'':28}{'rescuetui':>12}{'whiptail':>12}{'budget':>10}")
    print(f"{'first complete screen (B)':28}{ours.first_screen:>12}"
          f"{theirs.first_screen if theirs else '-':>12}{FIRST_SCREEN_BUDGET:>10}")
    move = max(ours.moves)
    print(f"{'highlight move (B/key)':28}{move:>12}"
          f"{max(theirs.moves) if theirs else '-':>12}{MOVE_BUDGET:>10}")
    print(f"{'streamed output (B/s)':28}{ours.stream_rate:>12.0f}{'-':>12}{STREAM_BUDGET:>10}")
    print(f"keystrokes from launch to a verified fix: {ours.keystrokes_to_verified} "
          f"(verified: {ours.verified}); characters outside CP437: {len(ours.non_cp437)}")
    if theirs:
        print(f"ratio to whiptail: first screen {ours.first_screen / theirs.first_screen:.2f}, "
              f"highlight move {move / max(max(theirs.moves), 1):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
