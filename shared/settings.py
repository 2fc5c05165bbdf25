"""Process settings, read once from the environment; nothing else in Ferry reads os.environ.

Knative (or the local runtime) sets these for every function and for the timer worker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    redis_url: str
    """``REDIS_URL``: where rollout state lives (may carry a password: never log it)."""
    broker_url: str
    """``FERRY_BROKER_URL``: the Broker's ingress, where timers and the tick send events."""
    timer_queue: str = "ferry-timers"
    """``FERRY_TIMER_QUEUE``: the RQ queue of timers."""

    @classmethod
    def from_env(cls) -> Settings:
        missing = [n for n in ("REDIS_URL", "FERRY_BROKER_URL") if not os.environ.get(n)]
        if missing:
            raise RuntimeError(
                f"{' and '.join(missing)} must be set: Ferry's functions need Redis and the "
                "Broker's URL (the knative/ manifests and `ferry up` set both)"
            )
        return cls(
            redis_url=os.environ["REDIS_URL"],
            broker_url=os.environ["FERRY_BROKER_URL"],
            timer_queue=os.environ.get("FERRY_TIMER_QUEUE", "ferry-timers"),
        )
