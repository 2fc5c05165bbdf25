"""What a function is given to do its work: Kubernetes, the state store, timers, the clock.

Built once per process from :class:`~shared.settings.Settings`; tests and the local runtime
build it from explicit parts. A context holds clients, never rollout data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import redis

from shared.kube import Kube
from shared.settings import Settings
from shared.state import StateStore
from shared.timers import Timers


@dataclass
class Context:
    kube: Kube
    store: StateStore
    timers: Timers
    broker_url: str
    function: str = ""
    now: Callable[[], float] = field(default=time.time)
    before_commit: Callable[[str], None] | None = None
    """Called with the function's name after it decided and before it commits: the local
    runtime's tests use it to crash a function there. None in production."""
    after_commit: Callable[[str], None] | None = None
    """Called with the function's name once its commit is done, before it converges and
    replies: the local runtime's tests crash a function there too. None in production."""
    dashboard_url: str = ""
    """Where the dashboard is (links in notifications); "" when there is none."""
    git_protocols: str = "https:ssh"
    """The transports a release to Git may use (``Settings.git_protocols``)."""
    webhook_key: bytes = b""
    """The key sealing verified webhooks (``shared.seals``); empty: none are trusted."""
    broker_token: Callable[[], str] | None = None
    """A token for the Broker's audience, sent with what the function posts to the Broker
    itself (replies go back in the HTTP answer and need none)."""

    @classmethod
    def from_settings(cls, settings: Settings, kube: Kube | None = None) -> Context:
        connection = redis.Redis.from_url(settings.redis_url)
        return cls(
            kube=kube or Kube.from_env(),
            store=StateStore(connection),
            timers=Timers(connection, settings.broker_url, settings.timer_queue),
            broker_url=settings.broker_url,
            broker_token=settings.broker_token(),
            dashboard_url=settings.dashboard_url,
            webhook_key=settings.webhook_key(),
            git_protocols=settings.git_protocols,
        )

    def for_function(self, function: str) -> Context:
        """The same clients, labelled with the function that uses them."""
        return replace(self, function=function)
