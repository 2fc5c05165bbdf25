"""POSTing JSON to a notification endpoint whose URL may itself be a secret (a Teams webhook
URL carries its key): failures are sorted into the three kinds of ``shared.notifiers`` and no
message ever holds the URL, a header value or the answer's body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from shared.notifiers import RateLimited, Rejected, Unavailable

TIMEOUT = 10.0


def post_json(
    url: str, body: Any, what: str, headers: Mapping[str, str] | None = None, *, data: bytes = b""
) -> requests.Response:
    """POST ``body`` (or the bytes ``data``) as JSON to ``url``; ``what`` names the endpoint in
    messages (never the URL)."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    try:
        if data:
            response = requests.post(
                url, data=data, headers=sent, timeout=TIMEOUT, allow_redirects=False
            )
        else:
            response = requests.post(
                url, json=body, headers=sent, timeout=TIMEOUT, allow_redirects=False
            )
    except requests.RequestException as exc:
        raise Unavailable(f"{what} unreachable: {type(exc).__name__}") from None
    code = response.status_code
    if code == 429:
        raise RateLimited(_retry_after(response.headers.get("Retry-After")))
    if code >= 500 or code == 408:
        raise Unavailable(f"{what} answered {code}")
    if code >= 300:  # a redirect too: its headers (from Secrets) are not sent elsewhere
        raise Rejected(f"{what} refused the notification ({code})")
    return response


def _retry_after(raw: str | None) -> float:
    try:
        return max(float(raw or 1), 1.0)
    except ValueError:
        return 1.0
