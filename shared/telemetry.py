"""What the functions count, for the metrics a long-lived component exposes.

Functions scale to zero, so nothing can scrape them: each counts into the state store (one
hash, :attr:`shared.state.Keys.counters`) and the dashboard exposes the counts at ``/metrics``
(``dashboard.metrics``). Counted: every committed transition, by function, event type and the
stage it led to, with its latency (from the event's ``time`` to the commit) as a histogram;
every delivery a function answered, by function and HTTP status. A counter's field is its name
and labels, ``name|key=value|...`` (:func:`field`, read back by :func:`parse`).

Off the critical path: counts are added up in memory and written by a background thread every
:data:`FLUSH_EVERY` seconds in one round trip (and at exit, or on :func:`flush`), so a
transition pays no Redis round trip for them. Best effort: a failure to count is logged and
never fails a transition or a delivery. Holds no secret and no rollout data beyond names of
functions, event types and stages.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime

from shared.state import StateStore

log = logging.getLogger(__name__)

TRANSITIONS = "transitions_total"
LATENCY = "transition_seconds"
DELIVERIES = "deliveries_total"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the latency histogram (``+Inf`` is ``_count``)."""


def field(name: str, **labels: str) -> str:
    """The counter field for ``name`` with ``labels`` (sorted: one field per series)."""
    for key, value in labels.items():
        if "|" in value or "=" in key:
            raise ValueError(f"label {key}={value!r} cannot be encoded")
    return "|".join([name, *(f"{k}={v}" for k, v in sorted(labels.items()))])


def parse(raw: str) -> tuple[str, dict[str, str]]:
    """``field``'s inverse: the counter's name and labels."""
    name, *pairs = raw.split("|")
    labels = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
    return name, labels


def _latency(function: str, seconds: float) -> Iterator[tuple[str, float]]:
    for bound in BUCKETS:
        if seconds <= bound:
            yield field(LATENCY + "_bucket", function=function, le=str(bound)), 1.0
    yield field(LATENCY + "_count", function=function), 1.0
    yield field(LATENCY + "_sum", function=function), seconds


def transition(
    store: StateStore, function: str, event_type: str, stage: str, sent: datetime | None
) -> None:
    """Count one committed transition (``sent``: the event's time, for the latency)."""
    amounts = {field(TRANSITIONS, function=function, event=event_type, to=stage): 1.0}
    if sent is not None:
        seconds = max(0.0, datetime.now(sent.tzinfo).timestamp() - sent.timestamp())
        amounts.update(_latency(function, seconds))
    _add(store, amounts)


def delivery(store: StateStore, function: str, status: int) -> None:
    """Count one delivery answered with HTTP ``status``."""
    _add(store, {field(DELIVERIES, function=function, code=str(status)): 1.0})


FLUSH_EVERY = 0.25
"""Seconds between writes of the counts (the metrics lag the work by about this much)."""


class _Pending:
    """Counts not written yet, per state store, and the thread that writes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[int, tuple[StateStore, dict[str, float]]] = {}
        self._thread: threading.Thread | None = None

    def add(self, store: StateStore, amounts: dict[str, float]) -> None:
        with self._lock:
            _, counts = self._counts.setdefault(id(store), (store, {}))
            for name, amount in amounts.items():
                counts[name] = counts.get(name, 0.0) + amount
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ferry-counts", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_EVERY)
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._counts = self._counts, {}
        for store, counts in batch.values():
            try:
                store.add_to_counters(counts)
            except Exception as exc:  # counting must never fail the work it counts
                log.warning("could not write %d counts: %s", len(counts), exc)


_pending = _Pending()
atexit.register(_pending.flush)


def flush() -> None:
    """Write the counts added so far (before a store goes away)."""
    _pending.flush()


def _add(store: StateStore, amounts: dict[str, float]) -> None:
    _pending.add(store, amounts)
