"""Traces as pure planning, and their export over OTLP/HTTP to a receiver that speaks it.

Covered: a revision's trace id follows from the uid and the revision alone; the same event
plans the same span; an event from the revision's trace is the parent, one from another trace
is a link and the rollout's previous span the parent; a state without a revision plans none;
a reply gets the ``traceparent`` and keeps its id; a malformed ``traceparent`` is ignored. The
exporter ``ferry serve`` uses sends the span, with the function's service name, to an OTLP/HTTP
receiver (``/v1/traces``, protobuf) on a loopback port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from shared import events, tracing
from shared.events import RolloutRef, Type
from shared.state import RolloutState, Stage

REF = RolloutRef("shop", "web")


def state(revision: str = "abc", stage: Stage = Stage.STEPPING) -> RolloutState:
    return RolloutState(
        REF.namespace, REF.name, version=3, stage=stage, uid="u-1", canary_revision=revision
    )


def event(traceparent: str = "") -> Any:
    made = events.new(Type.PAUSE_EXPIRED, REF, step=1)
    if traceparent:
        made = events.with_extension(made, events.Ext.TRACEPARENT, traceparent)
    return made


def test_planning() -> None:
    wanted = int(tracing.trace_id("u-1", "abc"), 16)
    first = tracing.plan(event(), state(), state())
    assert first is not None and first.trace_id == wanted and first.parent is None
    assert tracing.plan(event(), state(), state()) == first  # the same event, the same span
    child = tracing.plan(event(first.traceparent), state(), state())
    assert child is not None and child.parent is not None
    assert child.parent.span_id == first.span_id and child.link is None
    other = f"00-{'1' * 32}-{'2' * 16}-01"
    linked = tracing.plan(event(other), state(), state(), last=first.traceparent)
    assert (
        linked is not None and linked.link is not None and linked.link.trace_id == int("1" * 32, 16)
    )
    assert linked.parent is not None and linked.parent.span_id == first.span_id
    assert tracing.plan(event(), state(revision=""), state(revision="")) is None
    assert tracing.plan(event("00-bad"), state(), state()) is not None
    reply = events.new(Type.STEP_STARTED, REF, step=2)
    sent = tracing.reply_with(reply, first)
    assert sent is not None and sent.get_id() == reply.get_id()
    assert events.ext(sent, events.Ext.TRACEPARENT) == first.traceparent


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    got: list[ExportTraceServiceRequest] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/v1/traces" or "protobuf" not in self.headers.get("Content-Type", ""):
                self.send_response(404)
                self.end_headers()
                return
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            got.append(request)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", got
    server.shutdown()
    server.server_close()


def test_spans_are_exported_over_otlp_http(
    receiver: tuple[str, list[ExportTraceServiceRequest]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, got = receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    provider = tracing.otlp_provider("ferry-step")
    tracing.configure(provider)
    try:
        planned = tracing.plan(event(), state(), state())
        tracing.record(planned, "step", event(), state(), state(), time.time_ns(), "step 2/4")
        assert provider.force_flush(10_000)
    finally:
        tracing.configure(None)
        provider.shutdown()
    assert planned is not None and got
    (resource,) = got[0].resource_spans
    names = {a.key: a.value.string_value for a in resource.resource.attributes}
    assert names["service.name"] == "ferry-step"
    (span,) = resource.scope_spans[0].spans
    assert span.trace_id == planned.trace_id.to_bytes(16, "big")
    assert span.span_id == planned.span_id.to_bytes(8, "big")
    assert span.name == f"step {Type.PAUSE_EXPIRED}"
