"""Microsoft Teams: one Adaptive Card per notice, POSTed to the recipient's incoming webhook.

Argo Rollouts' ``service.teams`` configuration: ``recipientUrls`` maps each recipient (the name
subscriptions use) to its webhook URL, usually ``$teams-<channel>-url`` from the Secret (the URL
carries the key: it is never logged). The message is ``{"type": "message", "attachments":
[{"contentType": "application/vnd.microsoft.card.adaptive", "content": <card>}]}``, the shape
Teams' incoming webhooks and Workflows accept. No update in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from shared.notifiers import Capability, Notice, Rejected
from shared.notifiers._http import post_json

CAPABILITIES = frozenset({Capability.MENTIONS})


def validate(config: Mapping[str, Any], where: str) -> list[str]:
    urls = config.get("recipientUrls")
    if not isinstance(urls, dict) or not urls:
        return [f"{where}.recipientUrls: required, recipient name -> webhook URL"]
    return [
        f"{where}.recipientUrls.{name}: must be an http(s) URL"
        for name, url in urls.items()
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https")
    ]


def create(config: Mapping[str, Any]) -> Teams:
    return Teams(config)


class Teams:
    def __init__(self, config: Mapping[str, Any]) -> None:
        self.urls = {str(k): str(v) for k, v in config["recipientUrls"].items()}

    def send(self, notice: Notice, recipient: str, thread: Mapping[str, str]) -> dict[str, str]:
        url = self.urls.get(recipient)
        if url is None:
            raise Rejected(f"no recipientUrls entry for Teams recipient {recipient!r}")
        post_json(url, card_message(notice), f"the Teams webhook of {recipient!r}")
        return {}


def card_message(notice: Notice) -> dict[str, Any]:
    when = datetime.fromtimestamp(notice.at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    title = f"{notice.subject}: {notice.headline}"
    if notice.failed and notice.mentions:
        title = " ".join(notice.mentions) + " " + title
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": title,
            "weight": "Bolder",
            "wrap": True,
            "color": "Attention" if notice.failed else "Default",
        },
        {
            "type": "FactSet",
            "facts": [
                {"title": "Phase", "value": notice.phase},
                {"title": "Revision", "value": notice.revision},
                {"title": "Step", "value": notice.step or "-"},
                {"title": "Canary weight", "value": f"{notice.weight}%"},
                {"title": "Stable", "value": notice.stable or "-"},
                {"title": "Time", "value": when},
            ],
        },
    ]
    if notice.analysis:
        body.append({"type": "TextBlock", "text": notice.analysis, "wrap": True})
    if notice.detail:
        body.append({"type": "TextBlock", "text": notice.detail, "wrap": True, "isSubtle": True})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if notice.link:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open in the dashboard", "url": notice.link}
        ]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }
