"""GitLab webhooks: ``X-Gitlab-Token`` is the webhook's secret token (compared in constant
time); ``X-Gitlab-Event-UUID`` (or ``Idempotency-Key``) is the delivery's id, so a replay is
refused. What a delivery asks: a ``Tag Push Hook`` (``ref: refs/tags/<tag>``) is a release of
that tag for the project (``project.path_with_namespace``); a ``Pipeline Hook`` whose pipeline
succeeded confirms the gate the rollout waits at (acceptance tests passed; a policy's
``source.ref`` says which branch's or tag's pipeline counts); other events ask nothing.
"""

from __future__ import annotations

from shared.receivers import Delivery, Incoming, Intent, Refused
from shared.receivers._checks import body_json, text, token

CAPABILITIES = frozenset({"token", "release", "confirm"})
REPLAY_WINDOW = 24 * 3600.0


def create(secret: bytes) -> GitLab:
    return GitLab(secret)


class GitLab:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def verify(self, incoming: Incoming, now: float) -> Delivery:
        token(self._secret, incoming.header("X-Gitlab-Token"))
        delivery = incoming.header("X-Gitlab-Event-UUID") or incoming.header("Idempotency-Key")
        if not delivery:
            raise Refused(400, "X-Gitlab-Event-UUID is missing")
        payload = body_json(incoming.body)
        found: tuple[Intent, ...] = ()
        ref = text(payload.get("ref"))
        if incoming.header("X-Gitlab-Event") == "Tag Push Hook" and ref.startswith("refs/tags/"):
            project = text((payload.get("project") or {}).get("path_with_namespace"))
            if text(payload.get("after")).strip("0"):  # not a deleted tag
                tag = ref.removeprefix("refs/tags/")
                found = (Intent("release", tag=tag, repository=project, ref=tag),)
        attributes = payload.get("object_attributes") or {}
        if (
            incoming.header("X-Gitlab-Event") == "Pipeline Hook"
            and isinstance(attributes, dict)
            and attributes.get("status") == "success"
        ):
            project = text((payload.get("project") or {}).get("path_with_namespace"))
            found = (Intent("confirm", repository=project, ref=text(attributes.get("ref"))),)
        return Delivery("gitlab", delivery, payload, found)
