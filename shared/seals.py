"""Seals: an HMAC-SHA256 over what an event asks, with a key only Ferry's webhook endpoint and
its trigger function share (the Secret ``ferry-webhooks-key``).

The Broker admits more senders than Ferry's own components once a cluster lets a Knative source
in (an EventPolicy naming a GitHubSource's identity), and an event only says "look". A
``webhook.verified`` event asks the trigger to act with a WebhookPolicy's rights, so it must
prove that Ferry's endpoint verified the delivery: the trigger acts only on a valid seal. Pure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


def seal(key: bytes, subject: str, data: Mapping[str, Any]) -> str:
    """The seal of ``data`` about ``subject``."""
    message = json.dumps({"subject": subject, "data": data}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def sealed(key: bytes, subject: str, data: Mapping[str, Any], given: str) -> bool:
    """Whether ``given`` is the seal of ``data`` about ``subject`` (never with an empty key)."""
    return bool(key) and bool(given) and hmac.compare_digest(seal(key, subject, data), given)
