"""What both source emulators share: ``ceOverrides`` and sending their events to the sink.

:class:`Sender` POSTs each CloudEvent to one sink in binary mode, retrying a send a few times
(with a doubling wait, as upstream's PingSource) before logging the failure and moving on, and
reports every send to an optional callback. :func:`ce_overrides` reads the extensions a
source's ``ceOverrides`` adds to every event it sends.

This module must not log event data (only type, subject and id), must not raise for a failed
send and must not retry without bound.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import urllib3
from cloudevents.core.v1.event import CloudEvent

from local.broker import Answer, post_event

log = logging.getLogger(__name__)

SEND_RETRIES = 3
"""Extra attempts for one event POST (after the first) before it is logged and dropped."""
SEND_BACKOFF = 0.05
"""Seconds before the first retry of a send; doubles each time (upstream PingSource: 50 ms)."""
SEND_TIMEOUT = 10.0

OnEvent = Callable[[CloudEvent, int], None]
"""Called after each send with the event and the sink's last HTTP status (-1: no answer)."""

_CONTEXT_ATTRIBUTES = frozenset(
    {"id", "source", "specversion", "type", "datacontenttype", "dataschema", "subject", "time"}
)


def ce_overrides(spec: Mapping[str, Any]) -> dict[str, str]:
    """``ceOverrides.extensions`` (they cannot replace a CloudEvents context attribute)."""
    extensions = (spec.get("ceOverrides") or {}).get("extensions") or {}
    return {str(k): str(v) for k, v in extensions.items() if k not in _CONTEXT_ATTRIBUTES}


class Sender:
    """POSTs CloudEvents to one sink with a few retries; never raises for a failed send."""

    def __init__(
        self,
        url: str,
        stopped: threading.Event,
        on_event: OnEvent | None,
        token: Callable[[], str] | None = None,
    ) -> None:
        self.url = url
        self._stopped = stopped
        self._on_event = on_event
        self._token = token
        self._pool = urllib3.PoolManager(maxsize=8, retries=False)

    def _post(self, event: CloudEvent) -> Answer:
        """One attempt, with the source's OIDC token for the sink when it has one."""
        headers = {"authorization": f"Bearer {self._token()}"} if self._token else None
        return post_event(self._pool, self.url, event, timeout=SEND_TIMEOUT, extra_headers=headers)

    def send(self, event: CloudEvent) -> bool:
        answer = self._post(event)
        for attempt in range(SEND_RETRIES):
            if answer.ok or not answer.retryable or self._stopped.is_set():
                break
            self._stopped.wait(SEND_BACKOFF * 2**attempt)
            answer = self._post(event)
        if not answer.ok:
            log.error(
                "sink %s refused %s %s id=%s: %s",
                self.url,
                event.get_type(),
                event.get_subject() or "-",
                event.get_id(),
                answer.status if answer.status > 0 else answer.error,
            )
        if self._on_event is not None:
            try:
                self._on_event(event, answer.status)
            except Exception:
                log.exception("on_event callback failed")
        return answer.ok

    def close(self) -> None:
        self._pool.clear()
