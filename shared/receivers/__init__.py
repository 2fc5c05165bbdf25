"""Webhook receivers: how a request from outside proves where it comes from and what it asks,
one module per sender (Slack's interactivity, GitHub, GitLab, Docker Hub, Harbor, a generic
HMAC-signed webhook).

A receiver checks one sender's authentication of a request (a signature over the raw body, a
token) and its freshness, and says what the request is: a :class:`Delivery` with the sender's
own id for it (so a replay is recognised), its parsed payload and the :class:`Intent` s it
carries (a new image tag, a promote...). It never acts: the webhooks app turns intents into
CloudEvents that a function carries out as a Kubernetes identity, through the API server, as
the namespace's ``WebhookPolicy`` allows. A request that fails a check raises :class:`Refused`
with the HTTP status it gets (401 forged, 409 replayed or outside its time window, 400
malformed; what makes two requests one delivery depends on what the sender signs, and each
module says); a receiver never logs or returns a secret, and compares secrets in constant time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared import plugins

MAX_BODY = 256 * 1024
"""Bytes a webhook request may carry (more is 413 before any check)."""


class Refused(Exception):
    """The request is refused with ``status`` (and a message safe to answer)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Intent:
    """What a delivery asks of a rollout."""

    action: str
    """``promote``, ``abort``, ``confirm`` (a gate) or ``release`` (a new image tag)."""
    rollout: str = ""
    """The Rollout it names ("" when the sender cannot name one: the policy's rollouts)."""
    tag: str = ""
    """For ``release``: the new tag."""
    repository: str = ""
    """What the delivery is about (GitHub owner/name, registry repository), for the policy's
    ``source.repository``."""
    ref: str = ""
    """The branch or tag it is about (a pipeline's ``ref``), for the policy's ``source.ref``."""


@dataclass(frozen=True)
class Incoming:
    """A request as the app received it."""

    headers: Mapping[str, str]
    body: bytes
    path_token: str = ""
    """The URL's secret segment, for senders that can only authenticate that way."""

    def header(self, name: str) -> str:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), "")


@dataclass(frozen=True)
class Delivery:
    """An authenticated request: who sent it, its id (for replays), what it says."""

    sender: str
    id: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    intents: tuple[Intent, ...] = ()


class Receiver(Protocol):
    def verify(self, incoming: Incoming, now: float) -> Delivery:
        """The delivery ``incoming`` is, if it proves it comes from the sender and is fresh at
        ``now``; :class:`Refused` otherwise."""
        ...


REGISTRY: plugins.Registry[Receiver, bytes] = plugins.Registry(
    "webhook receiver", __name__, ("dockerhub", "github", "gitlab", "harbor", "hmac", "slack")
)
"""Sender -> its module; ``create(secret)`` builds a receiver from the shared secret."""
