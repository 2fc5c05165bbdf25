"""The local Broker's routing table: every Trigger of the manifests compiled into a route.

:func:`build_routes` checks the Broker and Trigger manifests and, for each Trigger, resolves its
subscriber and dead letter sink (a Destination ``ref`` through the caller's resolver, a ``uri``
absolute or relative to it), compiles its filter and settles its effective ``spec.delivery``
(the Trigger's, else its Broker's, as upstream). Everything is checked here, once, so a manifest
the broker cannot honour fails when the Broker is built rather than when an event arrives.

This module must not route by anything but the manifests, and must not send anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from local.broker.filters import Predicate, compile_filter
from local.broker.manifests import ManifestError, is_eventing, parse_duration

Resolver = Callable[[dict[str, Any]], str]
"""Maps a Destination ``ref`` ({apiVersion, kind, name, namespace}) to a base URL."""


@dataclass(frozen=True)
class DeliverySpec:
    """The effective ``spec.delivery`` of one Trigger."""

    retry: int = 0
    backoff_policy: str | None = None
    backoff_delay: float | None = None
    timeout: float | None = None
    dead_letter_sink: str | None = None
    dead_letter_audience: str | None = None
    """The OIDC audience of the dead letter sink (its Destination's ``audience``)."""
    structured: bool = False
    """``format: json``: deliver in structured mode (default and ``binary``: binary mode)."""

    def backoff(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first retry). As in
        Knative (go-retryablehttp counts from 0): exponential waits delay*2^(n-1), linear
        delay*(n-1); without both a policy and a delay, retries are immediate."""
        if self.backoff_policy is None or self.backoff_delay is None:
            return 0.0
        if self.backoff_policy == "exponential":
            return self.backoff_delay * math.pow(2, retry_number - 1)
        return self.backoff_delay * (retry_number - 1)


@dataclass(frozen=True)
class Route:
    """Where one Trigger sends the events of its Broker that its filter matches, and how."""

    broker: str
    trigger: str
    matches: Predicate
    subscriber: str
    delivery: DeliverySpec
    audience: str | None = None
    """The subscriber's OIDC audience (its Destination's ``audience``): with sender identity,
    every delivery carries a token of the Trigger's identity issued for it."""


def _destination(dest: Any, namespace: str, resolve: Resolver, where: str) -> str:
    """The URL of a Knative Destination: ``ref`` resolved, ``uri`` absolute or relative to
    it."""
    if not isinstance(dest, dict) or not (dest.get("ref") or dest.get("uri")):
        raise ManifestError(f"{where}: a destination needs ref and/or uri")
    uri = dest.get("uri")
    ref = dest.get("ref")
    absolute = bool(uri) and bool(urlsplit(str(uri)).scheme) and bool(urlsplit(str(uri)).netloc)
    if ref is None:
        if not absolute:
            raise ManifestError(f"{where}: uri must be absolute when there is no ref: {uri!r}")
        return str(uri)
    if absolute:
        raise ManifestError(f"{where}: an absolute uri is not allowed together with a ref")
    full_ref = dict(ref)
    full_ref.setdefault("namespace", namespace)
    try:
        base = resolve(full_ref)
    except Exception as exc:
        raise ManifestError(f"{where}: cannot resolve ref {full_ref}: {exc}") from exc
    return urljoin(base, str(uri)) if uri else base


def _delivery_spec(
    trigger: Mapping[str, Any] | None,
    broker: Mapping[str, Any] | None,
    trigger_ns: str,
    broker_ns: str,
    resolve: Resolver,
    where: str,
    default_timeout: float | None,
) -> DeliverySpec:
    """Retry, backoff and timeout from the Trigger's delivery if it has one, else the
    Broker's; the dead letter sink is the Trigger's, else the Broker's (as upstream)."""
    own = trigger if trigger else (broker or {})
    retry = own.get("retry", 0) or 0
    if not isinstance(retry, int) or retry < 0:
        raise ManifestError(f"{where}: delivery.retry must be a non-negative integer")
    policy = own.get("backoffPolicy")
    if policy not in (None, "linear", "exponential"):
        raise ManifestError(f"{where}: delivery.backoffPolicy must be linear or exponential")
    delay = parse_duration(own["backoffDelay"]) if own.get("backoffDelay") else None
    timeout = parse_duration(own["timeout"]) if own.get("timeout") else default_timeout
    fmt = own.get("format")
    if fmt not in (None, "json", "binary"):
        raise ManifestError(f"{where}: delivery.format must be json or binary")
    sink, audience = None, None
    if trigger and trigger.get("deadLetterSink"):
        sink = _destination(trigger["deadLetterSink"], trigger_ns, resolve, where + " deadLetter")
        audience = trigger["deadLetterSink"].get("audience")
    elif broker and broker.get("deadLetterSink"):
        sink = _destination(broker["deadLetterSink"], broker_ns, resolve, where + " deadLetter")
        audience = broker["deadLetterSink"].get("audience")
    return DeliverySpec(retry, policy, delay, timeout, sink, audience, fmt == "json")


def build_routes(
    manifests: Iterable[Mapping[str, Any]],
    resolve: Resolver,
    namespace: str,
    default_timeout: float | None,
) -> tuple[dict[str, list[Route]], dict[str, Mapping[str, Any]]]:
    """The routes of each Broker and the Broker manifests, both keyed ``<namespace>/<name>``
    (objects without a namespace are in ``namespace``)."""
    brokers: dict[str, Mapping[str, Any]] = {}
    triggers: list[Mapping[str, Any]] = []
    for doc in manifests:
        if is_eventing(doc, "Broker"):
            meta = doc.get("metadata") or {}
            brokers[f"{meta.get('namespace') or namespace}/{meta.get('name')}"] = doc
        elif is_eventing(doc, "Trigger"):
            triggers.append(doc)
    routes: dict[str, list[Route]] = {key: [] for key in brokers}
    for doc in triggers:
        meta = doc.get("metadata") or {}
        spec = doc.get("spec") or {}
        ns = meta.get("namespace") or namespace
        where = f"Trigger {ns}/{meta.get('name')}"
        ref = spec.get("brokerRef") or {}
        broker_name = ref.get("name") or spec.get("broker")
        broker_ns = ref.get("namespace") or ns
        key = f"{broker_ns}/{broker_name}"
        if not broker_name:
            raise ManifestError(f"{where}: spec.broker is required")
        if key not in brokers:
            raise ManifestError(f"{where}: Broker {key} is not among the manifests")
        if not spec.get("subscriber"):
            raise ManifestError(f"{where}: spec.subscriber is required")
        broker_spec = brokers[key].get("spec") or {}
        routes[key].append(
            Route(
                broker=key,
                trigger=f"{ns}/{meta.get('name')}",
                matches=compile_filter(spec, where),
                subscriber=_destination(spec["subscriber"], ns, resolve, where + " subscriber"),
                delivery=_delivery_spec(
                    spec.get("delivery"),
                    broker_spec.get("delivery"),
                    ns,
                    broker_ns,
                    resolve,
                    where,
                    default_timeout,
                ),
                audience=spec["subscriber"].get("audience"),
            )
        )
    return routes, brokers
