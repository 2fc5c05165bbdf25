"""GitHub webhooks (GHCR package events included): ``X-Hub-Signature-256`` is ``sha256=`` and the
hex HMAC-SHA256 of the raw body with the webhook's secret. GitHub signs neither a timestamp nor
``X-GitHub-Delivery``, so a delivery is recognised by what is signed, its event and body (kept
for a day): the same body again is a replay (409) under any delivery id.

What a delivery asks, by ``X-GitHub-Event``: ``package`` or ``registry_package`` with action
``published`` of a container: a release of its tag (GHCR); ``repository_dispatch`` with
``event_type`` ``ferry.promote``, ``ferry.abort``, ``ferry.confirm`` or ``ferry.release``
and ``client_payload: {rollout, tag}`` (a CI job asks); ``ping``: nothing.
"""

from __future__ import annotations

from typing import Any

from shared.receivers import Delivery, Incoming, Intent, Refused
from shared.receivers._checks import body_json, digest, signed, text

CAPABILITIES = frozenset({"signature", "release", "promote", "abort", "confirm"})
REPLAY_WINDOW = 24 * 3600.0
DISPATCH = {
    "ferry.promote": "promote",
    "ferry.abort": "abort",
    "ferry.confirm": "confirm",
    "ferry.release": "release",
}


def create(secret: bytes) -> GitHub:
    return GitHub(secret)


class GitHub:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def verify(self, incoming: Incoming, now: float) -> Delivery:
        signed(self._secret, incoming.body, incoming.header("X-Hub-Signature-256"))
        if not incoming.header("X-GitHub-Delivery"):
            raise Refused(400, "X-GitHub-Delivery is missing")
        payload = body_json(incoming.body)
        event = incoming.header("X-GitHub-Event")
        # GitHub signs the body only: the delivery is its body (a replay under a new
        # X-GitHub-Delivery is one), so a CI job dispatching twice puts a unique id (its run's)
        # in client_payload
        return Delivery(
            "github",
            digest(event.encode() + b"\n" + incoming.body),
            payload,
            intents(event, payload),
        )


def intents(event: str, payload: dict[str, Any]) -> tuple[Intent, ...]:
    repository = text((payload.get("repository") or {}).get("full_name"))
    if event in ("package", "registry_package"):
        package = payload.get(event) or {}
        if payload.get("action") != "published" or not isinstance(package, dict):
            return ()
        version = package.get("package_version") or {}
        tag = text(((version.get("container_metadata") or {}).get("tag") or {}).get("name"))
        if not tag:
            return ()
        owner = text((package.get("owner") or {}).get("login")) or repository.partition("/")[0]
        image = f"ghcr.io/{owner}/{text(package.get('name'))}".lower()
        return (Intent("release", tag=tag, repository=image),)
    if event == "repository_dispatch":
        action = DISPATCH.get(text(payload.get("action")))
        asked = payload.get("client_payload") or {}
        if action is None or not isinstance(asked, dict):
            return ()
        return (
            Intent(
                action,
                rollout=text(asked.get("rollout")),
                tag=text(asked.get("tag")),
                repository=repository,
            ),
        )
    return ()
