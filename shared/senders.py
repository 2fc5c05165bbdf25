"""Who sent an event: the bearer token of a delivery, checked with the API server.

With Knative Eventing's sender identity (``authentication-oidc``), every delivery carries an
OIDC token of the sender's ServiceAccount, issued for the receiver's audience: a source's or a
function's to the Broker, a Trigger's to a function. A receiver checks it as every Kubernetes
component checks a token, with a TokenReview naming its own audience, and then checks that the
sender is one it accepts (subjects, ``*`` at the end matching any suffix, as in an EventPolicy).
A token the API server does not vouch for is :class:`Unauthenticated` (401); a sender that is
not accepted is :class:`Forbidden` (403). Answers are kept for :data:`CACHE_SECONDS` by the
token's hash, so a burst of deliveries costs one review. Tokens are never logged or kept.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.kube import ApiError, Kube, NotFound

CACHE_SECONDS = 60.0
"""How long a review's answer is reused for the same token."""
CACHE_SIZE = 4096


class Unauthenticated(Exception):
    """No token, or one the API server does not vouch for, for this audience."""


class Forbidden(Exception):
    """A valid token of a sender this receiver does not accept."""


def accepts(patterns: Sequence[str], username: str) -> bool:
    """Whether ``username`` matches one of ``patterns`` (exact, or a prefix ending in ``*``)."""
    return any(username.startswith(p[:-1]) if p.endswith("*") else username == p for p in patterns)


@dataclass
class Senders:
    """Checks the senders of one receiver (its ``audience``) against ``allowed`` subjects."""

    kube: Kube
    audience: str
    allowed: tuple[str, ...]
    _cache: OrderedDict[str, tuple[float, str, str]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, authorization: str | None) -> str:
        """The sender's username; Unauthenticated or Forbidden otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("a bearer token is required (Authorization: Bearer ...)")
        key = hashlib.sha256(token.strip().encode()).hexdigest()
        username, error = self._remembered(key) or self._review(key, token.strip())
        if error:
            raise Unauthenticated(error)
        if not accepts(self.allowed, username):
            raise Forbidden(f"{username} may not send events here")
        return username

    def _remembered(self, key: str) -> tuple[str, str] | None:
        with self._lock:
            found = self._cache.get(key)
            if found is None or found[0] < time.monotonic():
                return None
            return found[1], found[2]

    def _review(self, key: str, token: str) -> tuple[str, str]:
        try:
            status = self.kube.review_token(token, (self.audience,))
        except (ApiError, NotFound) as exc:  # e.g. no permission to create tokenreviews
            raise RuntimeError(f"cannot review the sender's token: {exc}") from None
        username = str((status.get("user") or {}).get("username") or "")
        if not status.get("authenticated") or self.audience not in (status.get("audiences") or []):
            answer = ("", f"the token is not valid for {self.audience}")
        else:
            answer = (username, "")
        with self._lock:
            self._cache[key] = (time.monotonic() + CACHE_SECONDS, *answer)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return answer
