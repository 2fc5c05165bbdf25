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

This module must not log event data (only type, subject and id: data may hold secrets), must not
route by anything but the Trigger manifests, and must never retry without bound.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import logging
import math
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3
import yaml
from cloudevents.core.v1.event import CloudEvent
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from shared import events

log = logging.getLogger(__name__)

EVENTING_GROUP = "eventing.knative.dev"
ARRIVAL_TIME = "knativearrivaltime"
"""Extension the broker ingress stamps on every accepted event (RFC 3339 time)."""
ERROR_DEST, ERROR_CODE, ERROR_DATA = "knativeerrordest", "knativeerrorcode", "knativeerrordata"
"""Extensions added to a dead-lettered event: where it failed, the HTTP code, the base64 body."""
ERROR_DATA_MAX = 1024
"""Upstream truncates ``knativeerrordata`` (base64) to this many characters."""
RETRIED_CODES = frozenset({404, 408, 409, 429})
"""4xx codes Knative retries (with every 5xx and a missing response): kncloudevents'
SelectiveRetry."""
MAX_BODY = 8 * 1024 * 1024
"""Largest request body the ingress reads."""
POLL_INTERVAL = 0.05
"""Seconds the ingress server waits between checks for shutdown (bounds stop())."""

Resolver = Callable[[dict[str, Any]], str]
"""Maps a Destination ``ref`` ({apiVersion, kind, name, namespace}) to a base URL."""
Predicate = Callable[[Mapping[str, str]], bool]
"""A compiled Trigger filter over an event's attributes (as strings)."""


class ManifestError(ValueError):
    """A Trigger or Broker manifest the local broker cannot honour (says which and why)."""


class UnknownBroker(LookupError):
    """No Broker with that namespace and name is among the manifests."""


class Outcome(StrEnum):
    """How the delivery of one event to one Trigger ended."""

    DELIVERED = "delivered"
    """The subscriber answered 2xx without a reply."""
    REPLIED = "replied"
    """The subscriber answered 2xx with a CloudEvent, published back into the Broker."""
    DEAD_LETTERED = "dead-lettered"
    """Delivery failed; the dead letter sink accepted the event."""
    DROPPED = "dropped"
    """Delivery failed and there was no dead letter sink (or it failed too, or the broker
    stopped)."""


@dataclass(frozen=True)
class DeliveryRecord:
    """One event's delivery to one Trigger's subscriber, from first attempt to outcome."""

    event_id: str
    event_type: str
    subject: str | None
    broker: str
    """``<namespace>/<name>`` of the Broker."""
    trigger: str
    """``<namespace>/<name>`` of the Trigger."""
    subscriber: str
    status: int
    """Last HTTP status from the subscriber; -1 when it never answered; 0 if never tried."""
    attempts: int
    outcome: Outcome
    reply_type: str | None = None
    dead_letter_status: int | None = None
    started: float = 0.0
    finished: float = 0.0
    reason: str = ""


def describe(record: DeliveryRecord) -> str:
    """A one-line timeline entry for ``--verbose`` (no event data)."""
    stamp = datetime.fromtimestamp(record.finished).strftime("%H:%M:%S.%f")[:-3]
    line = (
        f"{stamp} {record.event_type} {record.subject or '-'} id={record.event_id} "
        f"-> {record.trigger} [{record.status}] x{record.attempts} {record.outcome.value}"
    )
    if record.reply_type:
        line += f" => {record.reply_type}"
    if record.dead_letter_status is not None:
        line += f" (dead letter sink answered {record.dead_letter_status})"
    if record.reason:
        line += f": {record.reason}"
    return line


# -- manifests ----------------------------------------------------------------------------


def load_manifests(paths: str | Path | Iterable[str | Path]) -> list[dict[str, Any]]:
    """Trigger and Broker objects from YAML files or directories (searched recursively for
    ``*.yaml``/``*.yml``, in name order). Multi-document files and ``kind: List`` are read;
    every other kind is skipped."""
    roots = [paths] if isinstance(paths, str | Path) else list(paths)
    files: list[Path] = []
    for root in map(Path, roots):
        if root.is_dir():
            files.extend(sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")))
        else:
            files.append(root)
    found: list[dict[str, Any]] = []
    for path in files:
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as exc:
            raise ManifestError(f"{path}: not valid YAML: {exc}") from None
        for doc in _flatten(documents):
            if _is_eventing(doc, "Trigger") or _is_eventing(doc, "Broker"):
                found.append(doc)
    return found


def _flatten(documents: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for doc in documents:
        if isinstance(doc, dict) and doc.get("kind") == "List":
            yield from _flatten(doc.get("items") or [])
        elif isinstance(doc, dict):
            yield doc


def _is_eventing(doc: Mapping[str, Any], kind: str) -> bool:
    api_version = str(doc.get("apiVersion", ""))
    return doc.get("kind") == kind and api_version.startswith(EVENTING_GROUP + "/")


_DURATION = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> float:
    """Seconds in an ISO-8601 duration such as ``PT0.2S``, ``PT1M30S`` or ``P1D`` (years and
    months are refused: they have no fixed length)."""
    match = _DURATION.match(text.strip().upper().replace(",", "."))
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ManifestError(f"not an ISO-8601 duration (e.g. PT0.5S): {text!r}")
    scale = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    return sum(float(v) * scale[k] for k, v in match.groupdict().items() if v)


# -- filters ------------------------------------------------------------------------------

_DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")


def attribute_strings(event: CloudEvent) -> dict[str, str]:
    """Every context attribute and extension of ``event`` as the string a filter compares."""
    out: dict[str, str] = {}
    for name, value in event.get_attributes().items():
        if value is None:
            continue
        if isinstance(value, datetime):
            text = value.isoformat()
            out[name] = text[:-6] + "Z" if text.endswith("+00:00") else text
        else:
            out[name] = str(value)
    return out


def compile_filter(spec: Mapping[str, Any], where: str = "trigger") -> Predicate:
    """The predicate of a Trigger ``spec``: ``filters`` if non-empty, else
    ``filter.attributes``; an absent filter matches every event."""
    expressions = spec.get("filters")
    if expressions:
        if not isinstance(expressions, list):
            raise ManifestError(f"{where}: spec.filters must be a list")
        compiled = [_compile(e, f"{where}: spec.filters[{i}]") for i, e in enumerate(expressions)]
        return lambda attrs: all(p(attrs) for p in compiled)
    legacy = (spec.get("filter") or {}).get("attributes") or {}
    if not isinstance(legacy, dict):
        raise ManifestError(f"{where}: spec.filter.attributes must be a map")
    for name, value in legacy.items():
        if not isinstance(value, str):
            raise ManifestError(
                f"{where}: spec.filter.attributes.{name} must be a string (quote it), got {value!r}"
            )
    wanted = dict(legacy)

    def attributes_match(attrs: Mapping[str, str]) -> bool:
        # "" (TriggerAnyFilter) only asks that the attribute exists.
        return all(k in attrs and (v == "" or attrs[k] == v) for k, v in wanted.items())

    return attributes_match


def _compile(expr: Any, where: str) -> Predicate:
    if not isinstance(expr, dict):
        raise ManifestError(f"{where}: a filter expression must be a map")
    dialects = [k for k in expr if k in _DIALECTS]
    unknown = [k for k in expr if k not in _DIALECTS]
    if unknown or len(dialects) != 1:
        raise ManifestError(
            f"{where}: a filter expression needs exactly one of {', '.join(_DIALECTS)}; "
            f"got {', '.join(map(str, expr)) or 'nothing'}"
        )
    dialect = dialects[0]
    body = expr[dialect]
    if dialect == "cesql":
        raise ManifestError(
            f"{where}: CESQL filters are not supported by the local broker; "
            "use exact/prefix/suffix/all/any/not"
        )
    if dialect in ("exact", "prefix", "suffix"):
        pairs = _attribute_pairs(body, f"{where}.{dialect}")
        test: Callable[[str, str], bool] = {
            "exact": lambda got, want: got == want,
            "prefix": lambda got, want: got.startswith(want),
            "suffix": lambda got, want: got.endswith(want),
        }[dialect]
        return lambda attrs: all(k in attrs and test(attrs[k], v) for k, v in pairs.items())
    if dialect == "not":
        inner = _compile(body, f"{where}.not")
        return lambda attrs: not inner(attrs)
    if not isinstance(body, list) or not body:
        raise ManifestError(f"{where}.{dialect}: needs a non-empty list of filter expressions")
    nested = [_compile(e, f"{where}.{dialect}[{i}]") for i, e in enumerate(body)]
    if dialect == "all":
        return lambda attrs: all(p(attrs) for p in nested)
    return lambda attrs: any(p(attrs) for p in nested)


def _attribute_pairs(body: Any, where: str) -> dict[str, str]:
    if not isinstance(body, dict) or not body:
        raise ManifestError(f"{where}: needs a map of attribute name to value")
    for name, value in body.items():
        if not name or not isinstance(value, str) or not value:
            raise ManifestError(f"{where}: attribute names and values must be non-empty strings")
    return dict(body)


# -- delivery spec ------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliverySpec:
    """The effective ``spec.delivery`` of one Trigger."""

    retry: int = 0
    backoff_policy: str | None = None
    backoff_delay: float | None = None
    timeout: float | None = None
    dead_letter_sink: str | None = None
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
class _Route:
    broker: str
    trigger: str
    matches: Predicate
    subscriber: str
    delivery: DeliverySpec


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


def _delivery(
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
    sink = None
    if trigger and trigger.get("deadLetterSink"):
        sink = _destination(trigger["deadLetterSink"], trigger_ns, resolve, where + " deadLetter")
    elif broker and broker.get("deadLetterSink"):
        sink = _destination(broker["deadLetterSink"], broker_ns, resolve, where + " deadLetter")
    return DeliverySpec(retry, policy, delay, timeout, sink, fmt == "json")


def _routes(
    manifests: Iterable[Mapping[str, Any]],
    resolve: Resolver,
    namespace: str,
    default_timeout: float | None,
) -> tuple[dict[str, list[_Route]], dict[str, Mapping[str, Any]]]:
    brokers: dict[str, Mapping[str, Any]] = {}
    triggers: list[Mapping[str, Any]] = []
    for doc in manifests:
        if _is_eventing(doc, "Broker"):
            meta = doc.get("metadata") or {}
            brokers[f"{meta.get('namespace') or namespace}/{meta.get('name')}"] = doc
        elif _is_eventing(doc, "Trigger"):
            triggers.append(doc)
    routes: dict[str, list[_Route]] = {key: [] for key in brokers}
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
            _Route(
                broker=key,
                trigger=f"{ns}/{meta.get('name')}",
                matches=compile_filter(spec, where),
                subscriber=_destination(spec["subscriber"], ns, resolve, where + " subscriber"),
                delivery=_delivery(
                    spec.get("delivery"),
                    broker_spec.get("delivery"),
                    ns,
                    broker_ns,
                    resolve,
                    where,
                    default_timeout,
                ),
            )
        )
    return routes, brokers


# -- HTTP out -----------------------------------------------------------------------------


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
    _check_required(answer.headers, answer.body)
    return events.from_http(answer.headers, answer.body)


def _check_required(headers: Mapping[str, str], body: bytes) -> None:
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


# -- the broker ---------------------------------------------------------------------------


@dataclass
class _Task:
    event: CloudEvent
    route: _Route
    started: float
    attempts: int = 0
    status: int = 0
    dead_letter: CloudEvent | None = None
    dead_letter_attempts: int = 0
    dead_letter_status: int | None = None
    reason: str = ""


class _Handler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logging.getLogger("local.broker.http").debug("%s %s", self.requestline, code)


class Broker:
    """Every Broker in the manifests, served on one loopback port, routing by their Triggers.

    ``resolve`` maps a Destination ``ref`` to a URL; it is called for every subscriber and dead
    letter sink when the Broker is built, so a ref nothing serves fails here, not later.
    """

    def __init__(
        self,
        manifests: Iterable[Mapping[str, Any]],
        resolve: Resolver,
        *,
        namespace: str = "default",
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 8,
        history: int = 1000,
        default_timeout: float | None = 30.0,
        # Knative sets no request timeout unless delivery.timeout is given; locally a hung
        # function must not hold a worker forever, so unset timeouts default to this.
        on_delivery: Callable[[DeliveryRecord], None] | None = None,
    ) -> None:
        self._routes, self._brokers = _routes(manifests, resolve, namespace, default_timeout)
        self._host, self._port = host, port
        self._workers_count = max(1, workers)
        self._records: deque[DeliveryRecord] = deque(maxlen=history)
        self._on_delivery = on_delivery
        self._lock = threading.Condition()
        self._timers: list[tuple[float, int, _Task]] = []
        self._seq = itertools.count()
        self._pending = 0
        self._queue: queue.Queue[_Task | None] = queue.Queue()
        self._pool = urllib3.PoolManager(maxsize=self._workers_count, retries=False)
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []
        self._running = False
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def brokers(self) -> list[str]:
        """``<namespace>/<name>`` of every Broker served."""
        return sorted(self._brokers)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the broker is not started")
        return f"http://{self._host}:{self._server.server_port}"

    def ingress_url(self, namespace: str, name: str) -> str:
        """Where to POST events for Broker ``namespace/name`` (its ``status.address.url``)."""
        if f"{namespace}/{name}" not in self._brokers:
            raise UnknownBroker(f"no Broker {namespace}/{name} among the manifests")
        return f"{self.url}/{namespace}/{name}"

    def start(self) -> Broker:
        """Serve the ingress and start delivering; a Broker starts once."""
        if self._running:
            return self
        if self._stopping:
            raise RuntimeError("a stopped broker cannot be restarted: build a new one")
        self._server = make_server(
            self._host, self._port, self._wsgi, threaded=True, request_handler=_Handler
        )
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": POLL_INTERVAL},
                name="broker-ingress",
                daemon=True,
            ),
            threading.Thread(target=self._schedule_loop, name="broker-timers", daemon=True),
        ]
        self._threads += [
            threading.Thread(target=self._work_loop, name=f"broker-worker-{i}", daemon=True)
            for i in range(self._workers_count)
        ]
        for thread in self._threads:
            thread.start()
        self._running = True
        log.info("broker listening on %s for %s", self.url, ", ".join(self.brokers))
        return self

    def stop(self, grace: float = 2.0) -> None:
        """Stop accepting events, drop scheduled retries and queued deliveries, and wait up to
        ``grace`` seconds for attempts in progress."""
        if not self._running:
            return
        self._stopping = True
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            timers, self._timers = self._timers, []
            self._lock.notify_all()
        for _, _, task in timers:
            self._finish(task, Outcome.DROPPED, "broker stopped before the retry was due")
        for _ in range(self._workers_count):
            self._queue.put(None)
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("broker stopped with attempts still in progress: %s", ", ".join(alive))
        self._pool.clear()
        self._running = False

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ in

    def publish(
        self, event: CloudEvent, namespace: str | None = None, name: str | None = None
    ) -> int:
        """Publish ``event`` into a Broker from this process (as a POST to its ingress would);
        with no namespace/name, into the only Broker. Returns how many Triggers matched."""
        if namespace is None or name is None:
            if len(self._brokers) != 1:
                raise UnknownBroker("several Brokers are served: name the one to publish to")
            key = next(iter(self._brokers))
        else:
            key = f"{namespace}/{name}"
        if key not in self._brokers:
            raise UnknownBroker(f"no Broker {key} among the manifests")
        if not self._running or self._stopping:
            raise RuntimeError("the broker is not running")
        return self._ingest(key, event)

    def _ingest(self, key: str, event: CloudEvent) -> int:
        arrived = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        event = with_extensions(event, **{ARRIVAL_TIME: arrived})
        attrs = attribute_strings(event)
        matched = [route for route in self._routes[key] if route.matches(attrs)]
        log.debug(
            "broker %s got %s %s id=%s: %d trigger(s)",
            key,
            event.get_type(),
            event.get_subject() or "-",
            event.get_id(),
            len(matched),
        )
        now = time.time()
        with self._lock:
            self._pending += len(matched)
        for route in matched:
            self._queue.put(_Task(event, route, now))
        return len(matched)

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._respond(request)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p]
        if len(parts) != 2 or "/".join(parts) not in self._brokers:
            return Response(f"no Broker at {request.path}\n", status=404, mimetype="text/plain")
        if request.method != "POST":
            return Response("POST CloudEvents here\n", status=405, mimetype="text/plain")
        if self._stopping:
            return Response("broker is stopping\n", status=503, mimetype="text/plain")
        if (request.content_length or 0) > MAX_BODY:
            return Response("event too large\n", status=413, mimetype="text/plain")
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = request.get_data(cache=False)
        try:
            _check_required(headers, body)
            event = events.from_http(headers, body)
        except events.MalformedEvent as exc:
            return Response(f"{exc}\n", status=400, mimetype="text/plain")
        self._ingest("/".join(parts), event)
        return Response(status=202)

    # ------------------------------------------------------------------ delivery

    def _schedule_loop(self) -> None:
        with self._lock:
            while not self._stopping:
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    _, _, task = heapq.heappop(self._timers)
                    self._queue.put(task)
                wait = self._timers[0][0] - now if self._timers else None
                self._lock.wait(timeout=wait)

    def _schedule(self, task: _Task, delay: float) -> None:
        if self._stopping:
            self._finish(task, Outcome.DROPPED, "broker stopped before the retry was due")
            return
        if delay <= 0:
            self._queue.put(task)
            return
        with self._lock:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), task))
            self._lock.notify_all()

    def _work_loop(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            if self._stopping:
                self._finish(task, Outcome.DROPPED, "broker stopped before delivery")
                continue
            try:
                if task.dead_letter is None:
                    self._attempt(task)
                else:
                    self._attempt_dead_letter(task)
            except Exception:
                log.exception(
                    "delivery of %s id=%s failed", task.event.get_type(), task.event.get_id()
                )
                self._finish(task, Outcome.DROPPED, "internal error (see log)")

    def _attempt(self, task: _Task) -> None:
        route, delivery = task.route, task.route.delivery
        task.attempts += 1
        answer = post_event(
            self._pool,
            route.subscriber,
            task.event,
            timeout=delivery.timeout,
            structured=delivery.structured,
            extra_headers={"prefer": "reply"},
        )
        task.status = answer.status
        if answer.ok:
            try:
                reply = reply_of(answer)
            except events.MalformedEvent as exc:
                message = f"invalid reply: {exc}".encode()
                ingress = f"{self.url}/{route.broker}"
                self._dead_letter(task, ingress, 400, message, f"subscriber replied {exc}")
                return
            if reply is None:
                self._finish(task, Outcome.DELIVERED)
                return
            if self._stopping:
                self._finish(task, Outcome.DROPPED, "broker stopped before the reply was published")
                return
            self._ingest(route.broker, reply)
            self._finish(task, Outcome.REPLIED, reply_type=reply.get_type())
            return
        if answer.retryable and task.attempts <= delivery.retry and not self._stopping:
            delay = delivery.backoff(task.attempts)
            log.debug(
                "retry %d/%d of %s id=%s to %s in %.3fs (got %d)",
                task.attempts,
                delivery.retry,
                task.event.get_type(),
                task.event.get_id(),
                route.trigger,
                delay,
                answer.status,
            )
            self._schedule(task, delay)
            return
        # Upstream reports a transport failure as 500 with a "dispatch error" body.
        code = answer.status if answer.status > 0 else 500
        body = answer.body if answer.status > 0 else f"dispatch error: {answer.error}".encode()
        reason = f"HTTP {answer.status}" if answer.status > 0 else answer.error
        self._dead_letter(task, route.subscriber, code, body, reason)

    def _dead_letter(self, task: _Task, dest: str, code: int, body: bytes, reason: str) -> None:
        task.reason = reason
        sink = task.route.delivery.dead_letter_sink
        if sink is None:
            log.warning(
                "dropping %s %s id=%s for %s: %s (no dead letter sink)",
                task.event.get_type(),
                task.event.get_subject() or "-",
                task.event.get_id(),
                task.route.trigger,
                reason,
            )
            self._finish(task, Outcome.DROPPED, reason)
            return
        data = base64.b64encode(body).decode()[:ERROR_DATA_MAX]
        task.dead_letter = with_extensions(
            task.event, **{ERROR_DEST: dest, ERROR_CODE: str(code), ERROR_DATA: data}
        )
        self._queue.put(task)

    def _attempt_dead_letter(self, task: _Task) -> None:
        assert task.dead_letter is not None
        delivery = task.route.delivery
        assert delivery.dead_letter_sink is not None
        task.dead_letter_attempts += 1
        answer = post_event(
            self._pool,
            delivery.dead_letter_sink,
            task.dead_letter,
            timeout=delivery.timeout,
            structured=delivery.structured,
        )
        task.dead_letter_status = answer.status
        if answer.ok:
            self._finish(task, Outcome.DEAD_LETTERED, task.reason)
            return
        if answer.retryable and task.dead_letter_attempts <= delivery.retry and not self._stopping:
            self._schedule(task, delivery.backoff(task.dead_letter_attempts))
            return
        log.error(
            "lost %s %s id=%s for %s: %s, and the dead letter sink answered %d",
            task.event.get_type(),
            task.event.get_subject() or "-",
            task.event.get_id(),
            task.route.trigger,
            task.reason,
            answer.status,
        )
        self._finish(task, Outcome.DROPPED, f"{task.reason}; dead letter sink failed")

    def _finish(
        self, task: _Task, outcome: Outcome, reason: str = "", reply_type: str | None = None
    ) -> None:
        record = DeliveryRecord(
            event_id=task.event.get_id(),
            event_type=task.event.get_type(),
            subject=task.event.get_subject(),
            broker=task.route.broker,
            trigger=task.route.trigger,
            subscriber=task.route.subscriber,
            status=task.status,
            attempts=task.attempts,
            outcome=outcome,
            reply_type=reply_type,
            dead_letter_status=task.dead_letter_status,
            started=task.started,
            finished=time.time(),
            reason=reason,
        )
        with self._lock:
            self._records.append(record)
            self._pending -= 1
            self._lock.notify_all()
        if self._on_delivery is not None:
            try:
                self._on_delivery(record)
            except Exception:
                log.exception("on_delivery callback failed")

    # ------------------------------------------------------------------ observing

    def deliveries(self) -> list[DeliveryRecord]:
        """The most recent delivery records (bounded), oldest first."""
        with self._lock:
            return list(self._records)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until no delivery is queued, in progress or waiting for a retry (replies
        included); False if that did not happen within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(timeout=left)
            return True
