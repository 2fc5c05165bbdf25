"""A generic JSON webhook: one POST per notice, in Flagger's event-webhook shape.

The body is ``{"name", "namespace", "phase", "metadata": {...}}`` as Flagger posts to an
``eventWebhook``, the metadata (strings only, as Flagger's) carrying Ferry's fields: the
trigger, the revision, the step, the weight, the analysis, the message and a link. Argo
Rollouts' ``service.webhook.<name>`` configuration: ``url``, ``headers`` (``[{name, value}]``,
values usually ``$secret-key``), and Ferry's ``secret``: when set, the body is signed with
HMAC-SHA256 in ``X-Ferry-Signature-256: sha256=<hex>`` (GitHub's scheme) so the receiver can
tell Ferry from a forger. The recipient names the subscription and is sent as
``metadata.recipient``. No update in place: each notice is its own request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from shared.notifiers import Notice
from shared.notifiers._http import post_json

CAPABILITIES: frozenset[str] = frozenset()
SIGNATURE = "X-Ferry-Signature-256"


def validate(config: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    url = config.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        problems.append(f"{where}.url: required, an http(s) URL")
    headers = config.get("headers", [])
    if not isinstance(headers, list) or not all(
        isinstance(h, dict) and isinstance(h.get("name"), str) and isinstance(h.get("value"), str)
        for h in headers
    ):
        problems.append(f"{where}.headers: must be a list of {{name, value}} strings")
    if "secret" in config and not isinstance(config["secret"], str):
        problems.append(f"{where}.secret: must be a string")
    return problems


def create(config: Mapping[str, Any]) -> Webhook:
    return Webhook(config)


class Webhook:
    def __init__(self, config: Mapping[str, Any]) -> None:
        self.url = str(config["url"])
        self.headers = {str(h["name"]): str(h["value"]) for h in config.get("headers", [])}
        self.secret = str(config.get("secret", "")).encode()

    def send(self, notice: Notice, recipient: str, thread: Mapping[str, str]) -> dict[str, str]:
        data = json.dumps(payload(notice, recipient), sort_keys=True).encode()
        headers = dict(self.headers)
        if self.secret:
            digest = hmac.new(self.secret, data, hashlib.sha256).hexdigest()
            headers[SIGNATURE] = f"sha256={digest}"
        post_json(self.url, None, "the webhook", headers, data=data)
        return {}


def payload(notice: Notice, recipient: str) -> dict[str, Any]:
    when = datetime.fromtimestamp(notice.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "name": notice.name,
        "namespace": notice.namespace,
        "phase": notice.phase,
        "metadata": {
            "eventType": "Warning" if notice.failed else "Normal",
            "eventMessage": notice.headline,
            "timestamp": when,
            "trigger": notice.triggers[0] if notice.triggers else "",
            "triggers": ",".join(notice.triggers),
            "revision": notice.revision,
            "stableRevision": notice.stable,
            "step": notice.step,
            "canaryWeight": str(notice.weight),
            "analysis": notice.analysis,
            "detail": notice.detail,
            "user": notice.user,
            "link": notice.link,
            "recipient": recipient,
            "uid": notice.uid,
        },
    }
