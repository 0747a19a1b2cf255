"""How busy the whole machine was during a measurement (benchmarks share 2 cores)."""

from __future__ import annotations

from pathlib import Path


def cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat ((0, 0) elsewhere)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def cores_busy(before: tuple[int, int], after: tuple[int, int], cores: int) -> float:
    """Average number of busy cores between two ``cpu_busy`` readings."""
    busy, total = after[0] - before[0], after[1] - before[1]
    return cores * busy / total if total else 0.0
