"""Harbor webhooks (the Default payload format): Harbor sends the policy's "Auth Header" as the
``Authorization`` header, compared with the secret in constant time. The delivery's id is its
body's hash and ``occur_at`` must be recent, so a replay is refused. ``PUSH_ARTIFACT`` is a
release of each pushed tag for ``event_data.repository.repo_full_name``.
"""

from __future__ import annotations

from shared.receivers import Delivery, Incoming, Intent, Refused
from shared.receivers._checks import body_json, digest, fresh, text, token

CAPABILITIES = frozenset({"token", "release"})
WINDOW = 3600.0
REPLAY_WINDOW = 2 * WINDOW


def create(secret: bytes) -> Harbor:
    return Harbor(secret)


class Harbor:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def verify(self, incoming: Incoming, now: float) -> Delivery:
        token(self._secret, incoming.header("Authorization"))
        payload = body_json(incoming.body)
        occurred = payload.get("occur_at")
        if not isinstance(occurred, int | float):
            raise Refused(400, "occur_at is missing")
        fresh(float(occurred), now, WINDOW)
        found: list[Intent] = []
        data = payload.get("event_data") or {}
        if payload.get("type") == "PUSH_ARTIFACT" and isinstance(data, dict):
            repository = text((data.get("repository") or {}).get("repo_full_name"))
            for resource in data.get("resources") or []:
                tag = text(resource.get("tag")) if isinstance(resource, dict) else ""
                if tag:
                    found.append(Intent("release", tag=tag, repository=repository))
        return Delivery("harbor", digest(incoming.body), payload, tuple(found[:10]))
