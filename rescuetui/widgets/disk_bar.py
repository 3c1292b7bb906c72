"""One line per disk: its partitions as a proportional bar, in the shade characters the VGA
console font has (CP437), so the Linux VT and a serial console draw it too."""

from __future__ import annotations

SHADES = ("\u2588", "\u2593", "\u2592", "\u2591")  # full, dark, medium, light (CP437 DB..B0)


def disk_bar(disk_size: int, partitions: list[int], width: int) -> str:
    """`partitions`: sizes in order. Each gets at least one cell; free space is '.'."""
    if disk_size <= 0 or width <= 0:
        return ""
    cells: list[str] = []
    for n, size in enumerate(partitions):
        count = max(1, round(size / disk_size * width))
        cells += [SHADES[n % len(SHADES)]] * count
    cells = cells[:width]
    return "".join(cells) + "." * (width - len(cells))
