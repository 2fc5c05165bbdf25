"""Slack's interactivity requests (a button in a message was clicked), verified as Slack
documents it: ``X-Slack-Signature`` is ``v0=`` and the hex HMAC-SHA256 of
``v0:<X-Slack-Request-Timestamp>:<raw body>`` with the app's signing secret, and a timestamp more
than five minutes from now is refused (401), as is a wrong signature. The body is form-encoded
with one field, ``payload``, the interaction as JSON; Ferry reads ``block_actions`` of its own
buttons (``action_id`` ``ferry.promote`` or ``ferry.abort``, ``value`` naming the rollout, its
uid and the revision the message was about).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from shared.receivers import Delivery, Incoming, Refused

CAPABILITIES = frozenset({"signature", "timestamp", "actions"})
REPLAY_WINDOW = 600.0
MAX_BODY = 64 * 1024
"""Bytes an interaction may carry (Slack's are a few KiB)."""
TOLERANCE = 300.0
"""Seconds a request's timestamp may be away from now (Slack's five minutes)."""
ACTIONS = {"ferry.promote": "promote", "ferry.abort": "abort"}


def create(secret: bytes) -> Slack:
    return Slack(secret)


class Slack:
    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the Slack signing secret is empty")
        self._secret = secret

    def verify(self, incoming: Incoming, now: float) -> Delivery:
        body = incoming.body
        stamp = incoming.header("X-Slack-Request-Timestamp")
        signature = incoming.header("X-Slack-Signature")
        if not stamp.isdigit() or not signature:
            raise Refused(
                401, "missing or malformed X-Slack-Request-Timestamp or X-Slack-Signature"
            )
        if abs(now - int(stamp)) > TOLERANCE:
            raise Refused(401, "the request's timestamp is more than five minutes from now")
        base = b"v0:" + stamp.encode() + b":" + body
        expected = "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode(errors="replace")):
            raise Refused(401, "the signature does not match")
        payload = _payload(body)
        return Delivery("slack", f"{stamp}:{signature}", payload)


def _payload(body: bytes) -> dict[str, Any]:
    try:
        fields = parse_qs(body.decode(), strict_parsing=True)
        found = json.loads(fields["payload"][-1])
    except (UnicodeDecodeError, ValueError, KeyError):
        raise Refused(400, "the body must be form-encoded with a JSON payload field") from None
    if not isinstance(found, dict):
        raise Refused(400, "the payload must be a JSON object")
    return found


def action(payload: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
    """(action, rollout ``ns/name``, uid, revision, Slack user id) of a click on one of
    Ferry's buttons; :class:`Refused` (400) for anything else."""
    if payload.get("type") != "block_actions":
        raise Refused(400, f"unsupported interaction type {payload.get('type')!r}")
    actions = payload.get("actions")
    user = payload.get("user")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise Refused(400, "expected exactly one action")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        raise Refused(400, "the interaction names no user")
    clicked = actions[0]
    verb = ACTIONS.get(str(clicked.get("action_id")))
    if verb is None:
        raise Refused(400, f"not one of Ferry's buttons: {str(clicked.get('action_id'))[:60]!r}")
    try:
        value = json.loads(str(clicked.get("value")))
        rollout, uid, revision = (str(value[k]) for k in ("rollout", "uid", "revision"))
    except (ValueError, TypeError, KeyError):
        raise Refused(400, "the button's value does not name a rollout") from None
    return verb, rollout, uid, revision, user["id"]
