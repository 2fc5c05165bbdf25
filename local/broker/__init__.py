"""The local Knative Broker: ingress, Trigger routing and delivery with retries, on one machine.

It stands in for Knative's multi-tenant Broker so functions cannot tell the difference:

- Ingress accepts CloudEvents (binary or structured) at ``/<namespace>/<broker>`` and answers 202,
  400 for a malformed event, 404 for an unknown Broker, like ``broker-ingress``; it stamps
  ``knativearrivaltime`` as upstream does.
- Routing comes ONLY from ``eventing.knative.dev/v1`` Trigger and Broker manifests: the legacy
  ``spec.filter.attributes`` (exact match, ``""`` = attribute present) and the newer
  ``spec.filters`` dialects (exact, prefix, suffix, all, any, not; ``filters`` wins over
  ``filter``). CESQL is refused when the manifests are loaded.
- Delivery is an HTTP POST (binary mode, or structured with ``delivery.format: json``) with a
  ``Prefer: reply`` header. A 2xx answer carrying a CloudEvent is a reply and re-enters the same
  Broker. Failures are retried per ``spec.delivery`` (the Trigger's, else the Broker's) on the
  codes Knative retries (5xx, 404, 408, 409, 429, no response) and never on other answers; then
  the event goes to the dead letter sink with ``knativeerrordest``, ``knativeerrorcode`` and
  ``knativeerrordata``, or is logged and dropped.

Concurrency: a fixed pool of worker threads performs single HTTP attempts; a retry is put on a
timer heap and handed back to the pool when due, so a waiting retry never holds a worker (only
an attempt in progress does, for at most its timeout). Events are handled concurrently and in no
particular order, as in Knative.

The modules, each depending only on those listed before it: ``manifests`` (reading the YAML,
durations), ``filters`` (Trigger filter semantics), ``routes`` (the routing table the manifests
compile to), ``wire`` (one CloudEvent POST and what it got back), ``delivery`` (retries,
backoff, dead letters, records) and ``server`` (the ingress and the :class:`Broker` itself).

No part of the broker may log event data (only type, subject and id: data may hold secrets),
route by anything but the Trigger manifests, or retry without bound.
"""

from local.broker.delivery import (
    ERROR_CODE,
    ERROR_DATA,
    ERROR_DATA_MAX,
    ERROR_DEST,
    DeliveryRecord,
    Outcome,
    describe,
)
from local.broker.filters import Predicate, attribute_strings, compile_filter
from local.broker.manifests import EVENTING_GROUP, ManifestError, load_manifests, parse_duration
from local.broker.routes import DeliverySpec, Resolver
from local.broker.server import ARRIVAL_TIME, MAX_BODY, POLL_INTERVAL, Broker, UnknownBroker
from local.broker.wire import RETRIED_CODES, Answer, post_event, reply_of, with_extensions

__all__ = [
    "ARRIVAL_TIME",
    "ERROR_CODE",
    "ERROR_DATA",
    "ERROR_DATA_MAX",
    "ERROR_DEST",
    "EVENTING_GROUP",
    "MAX_BODY",
    "POLL_INTERVAL",
    "RETRIED_CODES",
    "Answer",
    "Broker",
    "DeliveryRecord",
    "DeliverySpec",
    "ManifestError",
    "Outcome",
    "Predicate",
    "Resolver",
    "UnknownBroker",
    "attribute_strings",
    "compile_filter",
    "describe",
    "load_manifests",
    "parse_duration",
    "post_event",
    "reply_of",
    "with_extensions",
]
