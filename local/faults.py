"""Crashes on demand: hooks that make a function die just before, or just after, its commit.

The local runtime installs :class:`Faults` as the functions' ``Context.before_commit`` and
``Context.after_commit`` when asked to (``Options.fault_injection``); tests arm them to prove
that a transition that crashed between deciding and committing, or between committing and
converging, is healed by redelivery. Production code has no such branch: a context without the
hooks never crashes on purpose.
"""

from __future__ import annotations

import threading
from collections import Counter


class InjectedCrash(Exception):
    """An armed crash: the function dies before its commit (the endpoint answers 500)."""


class Faults:
    """How many more times each function crashes before (or after) its commit."""

    def __init__(self) -> None:
        self._armed: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def arm(self, function: str, times: int = 1, *, when: str = "before") -> None:
        """Make ``function`` crash ``times`` times ``when`` ("before" or "after") it commits."""
        with self._lock:
            self._armed[(function, when)] = times

    def left(self, function: str, *, when: str = "before") -> int:
        with self._lock:
            return self._armed[(function, when)]

    def before(self, function: str) -> None:
        """The ``before_commit`` hook."""
        self._crash(function, "before")

    def after(self, function: str) -> None:
        """The ``after_commit`` hook."""
        self._crash(function, "after")

    def _crash(self, function: str, when: str) -> None:
        with self._lock:
            if self._armed[(function, when)] <= 0:
                return
            self._armed[(function, when)] -= 1
        raise InjectedCrash(f"{function}: injected crash {when} commit")
