"""Checks several receivers share: an HMAC-SHA256 signature of the body, a shared token, a time
window, and reading the JSON body. Constant-time comparisons; messages never hold a secret."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from shared.receivers import Refused

WINDOW = 300.0
"""Seconds a delivery's own timestamp may be away from now."""


def signed(secret: bytes, message: bytes, given: str, *, prefix: str = "sha256=") -> None:
    """``given`` is ``prefix`` and the hex HMAC-SHA256 of ``message``; 401 otherwise."""
    expected = prefix + hmac.new(secret, message, hashlib.sha256).hexdigest()
    if not given or not hmac.compare_digest(
        expected.encode(), given.strip().encode(errors="replace")
    ):
        raise Refused(401, "the signature does not match")


def token(secret: bytes, given: str) -> None:
    """``given`` is the shared token; 401 otherwise."""
    if not given or not hmac.compare_digest(secret, given.strip().encode(errors="replace")):
        raise Refused(401, "the token does not match")


def fresh(at: float, now: float, window: float = WINDOW) -> None:
    """``at`` (the sender's timestamp) is within ``window`` of ``now``; 409 otherwise (a
    replay of an old delivery)."""
    if abs(now - at) > window:
        raise Refused(409, "the delivery is outside its time window (a replay?)")


def body_json(body: bytes) -> dict[str, Any]:
    try:
        found = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(found, dict):
        raise Refused(400, "the body must be a JSON object")
    return found


def digest(body: bytes) -> str:
    """An id for a delivery its sender gives none: its body's hash."""
    return hashlib.sha256(body).hexdigest()


def text(value: Any, limit: int = 256) -> str:
    """A string field of a payload, bounded ("" when it is not a string)."""
    return value[:limit] if isinstance(value, str) else ""
