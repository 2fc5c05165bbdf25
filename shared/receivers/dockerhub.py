"""Docker Hub webhooks. Docker Hub signs nothing and sends no header of its own, so the
webhook's URL carries the secret: its last segment must be the policy's token (compared in
constant time; never logged). The delivery's id is its body's hash and ``push_data.pushed_at``
must be recent, so a replay is refused. A push is a release of ``push_data.tag`` for
``repository.repo_name``.
"""

from __future__ import annotations

from shared.receivers import Delivery, Incoming, Intent, Refused
from shared.receivers._checks import body_json, digest, fresh, text, token

CAPABILITIES = frozenset({"token", "release"})
WINDOW = 3600.0
"""Seconds after the push a delivery is accepted (Docker Hub sends at once)."""
REPLAY_WINDOW = 2 * WINDOW


def create(secret: bytes) -> DockerHub:
    return DockerHub(secret)


class DockerHub:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def verify(self, incoming: Incoming, now: float) -> Delivery:
        token(self._secret, incoming.path_token)
        payload = body_json(incoming.body)
        push = payload.get("push_data") or {}
        pushed_at = push.get("pushed_at") if isinstance(push, dict) else None
        if not isinstance(pushed_at, int | float):
            raise Refused(400, "push_data.pushed_at is missing")
        fresh(float(pushed_at), now, WINDOW)
        tag = text(push.get("tag"))
        repository = text((payload.get("repository") or {}).get("repo_name"))
        found = (Intent("release", tag=tag, repository=repository),) if tag else ()
        return Delivery("dockerhub", digest(incoming.body), payload, found)
