"""A generic webhook signed with HMAC-SHA256, for CI systems and scripts: ``X-Ferry-Timestamp``
(Unix seconds) must be within five minutes of now, ``X-Ferry-Signature-256`` is ``sha256=`` and
the hex HMAC-SHA256 of ``<timestamp>.<body>`` with the shared secret (the timestamp is signed,
so an old delivery cannot be made fresh). A delivery is what is signed (its timestamp and
body): the same one sent again is a replay (409), whatever else changed. The body:
``{"action": "promote"|"abort"|"confirm"|"release", "rollout": "...", "tag": "..."}``.
"""

from __future__ import annotations

from shared.receivers import Delivery, Incoming, Intent, Refused
from shared.receivers._checks import WINDOW, body_json, digest, fresh, signed, text

CAPABILITIES = frozenset({"signature", "timestamp", "release", "promote", "abort", "confirm"})
REPLAY_WINDOW = 2 * WINDOW
ACTIONS = ("promote", "abort", "confirm", "release")


def create(secret: bytes) -> Hmac:
    return Hmac(secret)


class Hmac:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def verify(self, incoming: Incoming, now: float) -> Delivery:
        stamp = incoming.header("X-Ferry-Timestamp")
        if not stamp.isdigit():
            raise Refused(401, "X-Ferry-Timestamp is missing or not Unix seconds")
        signed(
            self._secret,
            stamp.encode() + b"." + incoming.body,
            incoming.header("X-Ferry-Signature-256"),
        )
        fresh(float(stamp), now)
        payload = body_json(incoming.body)
        action = text(payload.get("action"))
        if action not in ACTIONS:
            raise Refused(400, f"action must be one of {', '.join(ACTIONS)}")
        intent = Intent(action, rollout=text(payload.get("rollout")), tag=text(payload.get("tag")))
        # the id is what the signature covers: a replay under another X-Ferry-Delivery is one
        return Delivery("hmac", digest(stamp.encode() + b"." + incoming.body), payload, (intent,))
