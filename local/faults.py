"""Crashes on demand: a ``before_commit`` hook that makes a function die before its commit.

The local runtime installs :class:`Faults` as the functions' ``Context.before_commit`` when asked
to (``Options.fault_injection``); tests arm it to prove that a transition that crashed between
deciding and committing is healed by redelivery. Production code has no such branch: a context
without the hook never crashes on purpose.
"""

from __future__ import annotations

import threading
from collections import Counter


class InjectedCrash(Exception):
    """An armed crash: the function dies before its commit (the endpoint answers 500)."""


class Faults:
    """How many more times each function crashes before its commit."""

    def __init__(self) -> None:
        self._armed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def arm(self, function: str, times: int = 1) -> None:
        with self._lock:
            self._armed[function] = times

    def left(self, function: str) -> int:
        with self._lock:
            return self._armed[function]

    def __call__(self, function: str) -> None:
        """The hook: raise :class:`InjectedCrash` if a crash is armed for ``function``."""
        with self._lock:
            if self._armed[function] <= 0:
                return
            self._armed[function] -= 1
        raise InjectedCrash(f"{function}: injected crash before commit")
