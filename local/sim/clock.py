"""Time for the simulator: the wall clock, or a clock the tests move by hand.

Controllers ask the clock, never ``time.time()``, so a test can make a Pod's readiness delay pass
without sleeping. Timestamps are rendered the way the API server writes them (RFC 3339, UTC,
whole seconds). This module only tells time; it schedules nothing.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that starts at the wall-clock time and only moves when :meth:`advance` is called."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def rfc3339(epoch: float) -> str:
    """``2026-01-02T03:04:05Z``, as in ``metadata.creationTimestamp``."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(epoch: float) -> str:
    """``2026-01-02T03:04:05.123456Z``, as in Lease and Event micro-time fields."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch from an RFC 3339 timestamp (``Z`` or an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
