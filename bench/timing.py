"""What the benchmarks share: waiting for a condition by polling, and the summary of timings.

Times are taken by polling at :data:`POLL` (the resolution of the numbers they report).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

POLL = 0.002


def wait(predicate: Any, timeout: float = 60.0) -> float:
    """Poll ``predicate`` until it holds; the moment it was first seen to hold."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(POLL)
    raise TimeoutError("the condition did not hold in time")


def summary(values: list[float]) -> dict[str, float]:
    """Median, 95th percentile and maximum of ``values`` (seconds), in milliseconds."""
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }
