"""What the side-by-side benchmarks print: each run's median (and its fastest) over rounds
interleaved with its reference's, and the ratio of the first to the second."""

from __future__ import annotations

import statistics


def print_medians(title: str, results: dict[str, list[float]], *, scale: float = 1.0,
                  unit: str = "s", width: int = 17, goal: str = "") -> float:
    """Print the medians of `results` (seconds, shown times `scale` in `unit`); return the
    ratio of the first entry's median to the second's."""
    medians = {name: statistics.median(times) for name, times in results.items()}
    print(title)
    for name, median in medians.items():
        print(f"  {name:<{width}} {median * scale:7.2f} {unit}   "
              f"(min {min(results[name]) * scale:.2f} {unit})")
    first, second = list(medians.values())[:2]
    ratio = first / second
    print(f"  {'ratio':<{width}} {ratio:7.2f}x" + (f"   (goal: {goal})" if goal else ""))
    return ratio
