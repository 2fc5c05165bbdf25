"""Sending CloudEvents over HTTP (binary mode) to a sink: the Broker's ingress.

Used by timers and by the reconcile tick, which emit more than one reply can carry.
"""

from __future__ import annotations

from collections.abc import Callable

import requests
from cloudevents.core.v1.event import CloudEvent

from shared import events

TIMEOUT = 10.0


class SinkError(Exception):
    """The sink did not accept the event (the caller retries, or leaves it to reconcile)."""


def send(
    url: str,
    event: CloudEvent,
    *,
    session: requests.Session | None = None,
    token: Callable[[], str] | None = None,
) -> None:
    """POST ``event`` in binary mode (with ``token()`` as its bearer token when given)."""
    headers, body = events.to_http(event)
    if token is not None:
        headers["Authorization"] = f"Bearer {token()}"
    try:
        response = (session or requests).post(url, data=body, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise SinkError(f"cannot reach {url}: {exc}") from None
    if response.status_code >= 300:
        raise SinkError(f"{url} answered {response.status_code}: {response.text[:200]}")
