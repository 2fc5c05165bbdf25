"""Emulators of Knative's ApiServerSource and PingSource: the same CloudEvents, sent locally.

``apiserver`` list+watches what an ApiServerSource manifest names through the official
``kubernetes`` client and sends each change shaped as upstream's adapter does; ``ping`` sends a
PingSource's event on the runtime's tick instead of its cron schedule; ``sink`` is what both
share: ``ceOverrides`` and POSTing to the sink (binary mode, a few retries, then log and move
on).

No source may log event data (only type, subject and id) or write to the API.
"""

from local.sources.apiserver import (
    MAX_BACKOFF,
    WATCH_TIMEOUT,
    ApiServerSourceEmulator,
    guess_plural,
    label_selector,
    resource_event,
    self_link,
)
from local.sources.ping import PING, PingSourceEmulator, ping_source
from local.sources.sink import SEND_BACKOFF, SEND_RETRIES, SEND_TIMEOUT, OnEvent

__all__ = [
    "MAX_BACKOFF",
    "PING",
    "SEND_BACKOFF",
    "SEND_RETRIES",
    "SEND_TIMEOUT",
    "WATCH_TIMEOUT",
    "ApiServerSourceEmulator",
    "OnEvent",
    "PingSourceEmulator",
    "guess_plural",
    "label_selector",
    "ping_source",
    "resource_event",
    "self_link",
]
