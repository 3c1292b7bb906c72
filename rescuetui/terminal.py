"""What kind of terminal rescuetui runs on, decided before Textual is imported (Textual reads
its TEXTUAL_* settings at import time).

The serial profile is for the Linux VT and for serial consoles (a cloud's web serial console, a
USB-serial cable at 115200 baud): 16 ANSI colours, no mouse, no animation, no blinking cursor, a
low refresh rate, and only characters the VGA console font has (CP437). It turns on for TERM
linux/vt100/vt102/vt220, when the terminal is a serial line, and with --serial.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

SERIAL_TERMS = ("linux", "vt100", "vt102", "vt220")
SERIAL_TTYS = ("ttyS", "ttyAMA", "hvc", "ttyUSB", "ttyGS")
FALLBACK_SIZE = (80, 24)


@dataclass(frozen=True)
class Profile:
    serial: bool
    reason: str
    columns: int
    lines: int


def tty_name() -> str:
    try:
        return os.ttyname(sys.stdin.fileno())
    except OSError:
        return ""


def terminal_size() -> tuple[int, int]:
    """From the terminal, else from `stty size` (a serial line often reports 0x0), else 80x24."""
    size = shutil.get_terminal_size((0, 0))
    if size.columns > 0 and size.lines > 0:
        return size.columns, size.lines
    try:
        out = subprocess.run(["stty", "size"], stdin=sys.stdin, capture_output=True, text=True,
                             timeout=2, check=False).stdout.split()
        if len(out) == 2 and int(out[0]) > 0 and int(out[1]) > 0:
            return int(out[1]), int(out[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    return FALLBACK_SIZE


def detect(force_serial: bool = False) -> Profile:
    columns, lines = terminal_size()
    term = os.environ.get("TERM", "")
    tty = os.path.basename(tty_name())
    if force_serial:
        return Profile(True, "--serial", columns, lines)
    if term in SERIAL_TERMS:
        return Profile(True, f"TERM={term}", columns, lines)
    if tty.startswith(SERIAL_TTYS):
        return Profile(True, f"serial line /dev/{tty}", columns, lines)
    return Profile(False, f"TERM={term or 'unset'}", columns, lines)


def apply(profile: Profile) -> None:
    """Set Textual's settings for the profile. Must run before `import textual`."""
    if "textual" in sys.modules:
        raise RuntimeError("terminal.apply() must run before Textual is imported")
    if profile.serial:
        os.environ.setdefault("TEXTUAL_COLOR_SYSTEM", "standard")  # the 16 ANSI colours
        os.environ.setdefault("TEXTUAL_FPS", "8")
        os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
        os.environ.setdefault("TEXTUAL_SMOOTH_SCROLL", "0")
        # The terminal's own 16 colours, chosen at start: switching the theme after start-up
        # repaints the whole screen once more.
        os.environ.setdefault("TEXTUAL_THEME", "ansi-dark")
    if not os.environ.get("COLUMNS") and profile.columns:
        # A serial line that reports no size gets the one stty gave, or 80x24.
        if shutil.get_terminal_size((0, 0)).columns == 0:
            os.environ["COLUMNS"], os.environ["LINES"] = str(profile.columns), str(profile.lines)


def environment() -> dict[str, str]:
    """What the start screen says about where rescuetui runs."""
    live = any(os.path.exists(p) for p in ("/run/live/medium", "/run/initramfs/live",
                                           "/lib/live/mount/medium"))
    vendor = ""
    try:
        with open("/sys/class/dmi/id/sys_vendor") as f:
            vendor = f.read().strip()
    except OSError:
        pass
    return {
        "boot": "UEFI" if os.path.isdir("/sys/firmware/efi") else "BIOS",
        "medium": "live medium" if live else "installed system or repair VM",
        "machine": vendor or "unknown",
        "console": tty_name() or "no terminal",
    }
