"""SVG snapshots at 80x24 of the screens that need no disk, in the default and the serial
theme (run `pytest --snapshot-update` after an intended change and look at the report). The
apps do not look at /dev/sdb while the start screen is read (`look_ahead=False`): what that
finds waits for Enter and changes nothing on these screens, and the machine running the tests
may well have a /dev/sdb of its own."""

from __future__ import annotations

import pytest

from rescuetui.app import RescueApp
from rescuetui.terminal import Profile

ENV = {"boot": "BIOS", "medium": "live medium", "machine": "QEMU", "console": "/dev/ttyS0"}
PROFILES = {"default": Profile(False, "TERM=xterm-256color", 80, 24),
            "serial": Profile(True, "TERM=vt220", 80, 24)}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_start_screen(snap_compare, profile: str) -> None:  # type: ignore[no-untyped-def]
    app = RescueApp(profile=PROFILES[profile], disk="/dev/sdb", environment=ENV,
                    look_ahead=False)
    assert snap_compare(app, terminal_size=(80, 24))


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_help_over_the_start_screen(snap_compare, profile: str) -> None:  # type: ignore[no-untyped-def]
    app = RescueApp(profile=PROFILES[profile], disk="/dev/sdb", environment=ENV,
                    look_ahead=False)
    assert snap_compare(app, terminal_size=(80, 24), press=["f1"])


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_practice_picker(snap_compare, profile: str) -> None:  # type: ignore[no-untyped-def]
    app = RescueApp(profile=PROFILES[profile], pick_practice=True, environment=ENV)
    assert snap_compare(app, terminal_size=(80, 24), press=["down"])
