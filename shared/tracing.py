"""Traces of rollouts: one trace per rollout revision, one span per transition (OpenTelemetry).

Every event a transition sends carries W3C ``traceparent`` (the CloudEvents distributed tracing
extension) naming that transition's span, so the next transition's span is its child. The
trace id is not random: it follows from the Rollout's uid and the revision
(:func:`trace_id`), so every transition of one revision — whatever event started it, a watch
event, a timer, the reconcile tick — lands in the same trace, and the dashboard can link a
rollout to its trace without storing anything. A span is planned before the commit (its id
goes into the reply, which is stored with the commit for redeliveries) and recorded after it.

Spans go to the tracer provider given to :func:`configure` (``ferry serve`` exports with OTLP
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; tests use an in-memory exporter); without one,
``traceparent`` still flows and nothing is recorded. Tracing never fails a transition.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cloudevents.core.v1.event import CloudEvent
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from shared import events
from shared.state import RolloutState

log = logging.getLogger(__name__)
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

_next_trace: contextvars.ContextVar[int] = contextvars.ContextVar("ferry_trace", default=0)
_next_span: contextvars.ContextVar[int] = contextvars.ContextVar("ferry_span", default=0)


class PlannedIds(IdGenerator):
    """The ids :func:`record` planned, else random ones (give it to the TracerProvider)."""

    def generate_span_id(self) -> int:
        return _next_span.get() or random.getrandbits(64)

    def generate_trace_id(self) -> int:
        return _next_trace.get() or random.getrandbits(128)


_provider: TracerProvider | None = None


def configure(provider: TracerProvider | None) -> None:
    """Record spans with ``provider`` (made with ``id_generator=PlannedIds()``); None: none."""
    global _provider
    _provider = provider


def otlp_provider(service: str) -> TracerProvider:
    """A provider exporting with OTLP over HTTP (endpoint and headers from ``OTEL_*``), in
    batches from a background thread; shut it down on exit to send the last ones."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": service}), id_generator=PlannedIds()
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def trace_id(uid: str, revision: str) -> str:
    """The trace (32 hex digits) of one revision of one Rollout."""
    return hashlib.sha256(f"{uid}/{revision}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Planned:
    """A transition's span, before it is recorded."""

    trace_id: int
    span_id: int
    parent: SpanContext | None
    """The span of the event's sender, when it is in this trace."""
    link: SpanContext | None
    """The span of the event's sender, when it is in another trace (an older revision's)."""

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-01"


def _sender(event: CloudEvent) -> SpanContext | None:
    return parse(str(events.ext(event, events.Ext.TRACEPARENT) or ""))


def parse(traceparent: str) -> SpanContext | None:
    """The span a ``traceparent`` names (None when it is not one)."""
    found = TRACEPARENT.match(traceparent)
    if found is None or int(found.group(1), 16) == 0 or int(found.group(2), 16) == 0:
        return None
    return SpanContext(
        int(found.group(1), 16),
        int(found.group(2), 16),
        is_remote=True,
        trace_flags=TraceFlags(int(found.group(3), 16)),
    )


def plan(
    event: CloudEvent, state: RolloutState | None, old: RolloutState, last: str = ""
) -> Planned | None:
    """The span of the transition ``event`` causes, leading to ``state`` (None: no rollout,
    or no revision yet). Its parent is the event's sender when that is in the revision's
    trace, else ``last`` (the rollout's previous span, when in that trace): events without a
    ``traceparent`` (a watch event, a timer, the tick) still chain. Its id follows from the
    trace and the event's id, so the same event plans the same span."""
    where = state if state is not None and state.uid else old
    revision = where.canary_revision or where.stable_revision
    if not where.uid or not revision:
        return None
    wanted = int(trace_id(where.uid, revision), 16)
    digest = hashlib.sha256(f"{wanted:032x}/{event.get_source()}/{event.get_id()}".encode())
    span_id = int(digest.hexdigest()[:16], 16) or 1
    sender = _sender(event)
    if sender is not None and sender.trace_id == wanted:
        return Planned(wanted, span_id, sender, None)
    previous = parse(last)
    if previous is not None and previous.trace_id == wanted:
        return Planned(wanted, span_id, previous, sender)
    return Planned(wanted, span_id, None, sender)


def reply_with(reply: CloudEvent | None, planned: Planned | None) -> CloudEvent | None:
    """The reply carrying the planned span as its ``traceparent``."""
    if reply is None or planned is None:
        return reply
    return events.with_extension(reply, events.Ext.TRACEPARENT, planned.traceparent)


@contextmanager
def _ids(planned: Planned) -> Iterator[None]:
    trace_token = _next_trace.set(planned.trace_id)
    span_token = _next_span.set(planned.span_id)
    try:
        yield
    finally:
        _next_trace.reset(trace_token)
        _next_span.reset(span_token)


def record(
    planned: Planned | None,
    function: str,
    event: CloudEvent,
    old: RolloutState,
    new: RolloutState | None,
    started_ns: int,
    note: str,
) -> None:
    """Record the transition's span (from ``started_ns`` to now) as planned."""
    if planned is None or _provider is None:
        return
    try:
        tracer = _provider.get_tracer("ferry")
        parent = (
            trace.set_span_in_context(NonRecordingSpan(planned.parent)) if planned.parent else None
        )
        links = [Link(planned.link)] if planned.link is not None else []
        to = new.stage.value if new is not None else "deleted"
        attributes = {
            "cloudevents.event_id": event.get_id(),
            "cloudevents.event_type": event.get_type(),
            "cloudevents.event_source": event.get_source(),
            "cloudevents.event_subject": event.get_subject() or "",
            "ferry.function": function,
            "ferry.stage.from": old.stage.value if old.exists else "",
            "ferry.stage.to": to,
            "ferry.step": (new or old).step,
            "ferry.weight": (new or old).weight,
            "ferry.note": note,
        }
        with _ids(planned):
            span = tracer.start_span(
                f"{function} {event.get_type()}",
                context=parent,
                kind=SpanKind.CONSUMER,
                links=links,
                attributes=attributes,
                start_time=started_ns,
            )
        span.end()
    except Exception as exc:  # tracing never fails a transition
        log.warning("could not record the span of %s: %s", event.get_id(), exc)
