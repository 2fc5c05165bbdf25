"""Notifiers: where a rollout's notifications go, one module per service (Slack, a generic JSON
webhook, Microsoft Teams).

A notifier turns a :class:`Notice` (what one transition of a rollout means, built by
``shared.notices``) into calls of one service's API. It is built from its service's
configuration (``service.<type>[.<name>]`` in the namespace's ``ferry-notifications``
ConfigMap, Secret references already resolved by ``shared.subscriptions``) and never sees
Ferry's state: what it must remember about a message (Slack's channel and ``ts``, to update it)
it returns, and ``functions.notify`` keeps it.

Every failure is one of three kinds, so that no service can block or fail a rollout:
:class:`RateLimited` (try again after the time the service asked for), :class:`Unavailable`
(try again with backoff) and :class:`Rejected` (the service refused the message for good: a bad
token, an unknown channel). A notifier never sleeps, never retries by itself, and never puts a
token, a webhook URL or a header value in an error, a log line or what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from shared import plugins


class Capability:
    """What a notifier can do (``CAPABILITIES`` of each module)."""

    UPDATE = "update"
    """Updates the revision's one message in place as the rollout progresses."""
    THREADS = "threads"
    """Adds each transition's details under the revision's message."""
    BUTTONS = "buttons"
    """Offers promote and abort buttons (answered by Ferry's interactivity endpoint)."""
    MENTIONS = "mentions"
    """Mentions people or groups on a failure."""


@dataclass(frozen=True)
class Notice:
    """What one notification says: one transition, and where the rollout stands now. Holds
    nothing secret (it is built from the history and the Rollout)."""

    namespace: str
    name: str
    uid: str
    revision: str
    """The revision the rollout's message is about (one message per revision)."""
    triggers: tuple[str, ...]
    """The triggers the transition fired, most specific first."""
    headline: str
    """The transition in one line ("Step 2 of 4 completed: canary at 40%")."""
    detail: str
    """What the transition's history entry says (an abort: the metric and its value)."""
    phase: str
    """The rollout's phase now."""
    step: str
    """"2/4": steps done of all, now ("" when not in progress)."""
    weight: int
    """The canary's weight now."""
    analysis: str
    """The latest analysis of this attempt, in one line ("" when none ran)."""
    stable: str
    """The stable revision now."""
    at: float
    """Epoch seconds of the transition."""
    failed: bool = False
    """The transition is a failure (an abort, a failed analysis)."""
    link: str = ""
    """The rollout's page on the dashboard ("" when none is configured)."""
    mentions: tuple[str, ...] = ()
    """Who to mention (only set on a failure)."""
    actions: tuple[str, ...] = ()
    """The commands a person may give now from the message (``promote``, ``abort``)."""
    user: str = ""
    """The person whose command caused the transition, if one did."""

    @property
    def subject(self) -> str:
        return f"{self.namespace}/{self.name}"


class RateLimited(Exception):
    """The service asked to wait ``after`` seconds (HTTP 429 with Retry-After)."""

    def __init__(self, after: float, keep: Mapping[str, str] | None = None) -> None:
        super().__init__(f"rate limited: retry after {after:g}s")
        self.after = after
        self.keep = dict(keep or {})
        """What to remember although the send did not finish (a message already posted)."""


class Unavailable(Exception):
    """The service could not be reached or failed (5xx, a timeout): try again later."""

    def __init__(self, why: str, keep: Mapping[str, str] | None = None) -> None:
        super().__init__(why)
        self.keep = dict(keep or {})


class Rejected(Exception):
    """The service refused the notification for good (bad credentials, unknown channel)."""


class Notifier(Protocol):
    def send(self, notice: Notice, recipient: str, thread: Mapping[str, str]) -> dict[str, str]:
        """Deliver ``notice`` to ``recipient`` (a channel, a Teams recipient, ...).
        ``thread`` is what the last send about this revision to this recipient returned
        (empty the first time); the result is kept for the next."""
        ...


REGISTRY: plugins.Registry[Notifier, Mapping[str, Any]] = plugins.Registry(
    "notification service", __name__, ("slack", "teams", "webhook")
)
"""Service type (the ``<type>`` of ``service.<type>``) -> its module."""
