"""CloudEvents over HTTP as the local Broker sends and receives them (also used by the sources).

:func:`post_event` makes one POST (binary content mode, or structured) and reports what came
back as an :class:`Answer`, which knows which outcomes Knative retries; :func:`reply_of` reads
the CloudEvent a subscriber's answer may carry; :func:`check_required` refuses an incoming event
that lacks a required attribute (the SDK would invent one) before it is parsed.

This module makes single attempts only: it must not retry, wait or decide where an event goes,
and must not log event data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import urllib3
from cloudevents.core.v1.event import CloudEvent

from shared import events

RETRIED_CODES = frozenset({404, 408, 409, 429})
"""4xx codes Knative retries (with every 5xx and a missing response): kncloudevents'
SelectiveRetry."""


@dataclass(frozen=True)
class Answer:
    """What one POST of a CloudEvent got back."""

    status: int
    """HTTP status, or -1 when there was no response (connection refused, timeout...)."""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status < 0 or self.status >= 500 or self.status in RETRIED_CODES


def post_event(
    pool: urllib3.PoolManager,
    url: str,
    event: CloudEvent,
    *,
    timeout: float | None,
    structured: bool = False,
    extra_headers: Mapping[str, str] | None = None,
) -> Answer:
    """POST ``event`` to ``url`` (binary content mode unless ``structured``); never raises for
    a transport failure (status -1)."""
    if structured:
        headers = {"content-type": "application/cloudevents+json; charset=utf-8"}
        body = events.to_json(event).encode()
    else:
        headers, body = events.to_http(event)
    headers.update(extra_headers or {})
    try:
        response = pool.request(
            "POST",
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(total=timeout) if timeout else None,
            retries=False,
            redirect=False,
        )
    except urllib3.exceptions.HTTPError as exc:
        return Answer(-1, error=f"{type(exc).__name__}: {exc}")
    answer_headers = {k.lower(): v for k, v in response.headers.items()}
    return Answer(response.status, answer_headers, response.data or b"")


def reply_of(answer: Answer) -> CloudEvent | None:
    """The CloudEvent a 2xx answer carries (binary or structured), None if it carries none;
    MalformedEvent if it looks like one but is invalid."""
    ctype = answer.headers.get("content-type", "")
    binary = any(k.startswith("ce-") for k in answer.headers)
    if not binary and "application/cloudevents+json" not in ctype:
        return None
    check_required(answer.headers, answer.body)
    return events.from_http(answer.headers, answer.body)


def check_required(headers: Mapping[str, str], body: bytes) -> None:
    """Refuse what the SDK would silently complete (it invents a missing id)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if any(k.startswith("ce-") for k in lowered):
        present = {k[3:] for k in lowered if k.startswith("ce-")}
    elif "cloudevents" not in lowered.get("content-type", ""):
        return  # not a CloudEvent at all: events.from_http says so
    else:
        try:
            doc = json.loads(body or b"null")
        except ValueError:
            raise events.MalformedEvent("structured CloudEvent body is not JSON") from None
        if not isinstance(doc, dict):
            raise events.MalformedEvent("structured CloudEvent body must be a JSON object")
        present = set(doc)
        if doc.get("specversion") not in (None, "1.0"):
            raise events.MalformedEvent("only CloudEvents specversion 1.0 is accepted")
    missing = [a for a in ("specversion", "id", "source", "type") if a not in present]
    if missing:
        raise events.MalformedEvent(f"CloudEvent lacks required attribute(s): {', '.join(missing)}")
    if lowered.get("ce-specversion", "1.0") != "1.0":
        raise events.MalformedEvent("only CloudEvents specversion 1.0 is accepted")


def with_extensions(event: CloudEvent, **extensions: str) -> CloudEvent:
    """A copy of ``event`` with extension attributes added or replaced."""
    return CloudEvent({**event.get_attributes(), **extensions}, event.get_data())
