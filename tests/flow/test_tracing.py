"""Traces: one per rollout revision, one span per transition, parents following the events.

Covered, on ``ferry up`` with an in-memory exporter: a canary of a new revision through its
steps and promotion gives exactly one trace for that revision, whose id follows from the
Rollout's uid and the revision (what the dashboard links to); it holds one span per committed
transition of the revision (as many as the history's entries), each a CONSUMER span named by
its function and event type with the event's id and the stages it moved between; exactly one
span is a root, and every other's parent is a span of the same trace (the ``traceparent`` each
transition puts on the events it sends, through the Broker; for the events that carry none — a
watch event, a timer — the rollout's previous span).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from local.runtime import Runtime
from shared import tracing
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import REF, Demo, eventually

STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {"duration": "1s"}}, {"setWeight": 50}]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=tracing.PlannedIds())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.configure(provider)
    yield exporter
    tracing.configure(None)
    provider.shutdown()


def test_one_trace_per_revision_with_a_span_per_transition(
    runtime: Runtime, kube: Kube, spans: InMemorySpanExporter
) -> None:
    podinfo = Demo(runtime, kube)
    podinfo.create(STEPS)
    podinfo.wait(Stage.HEALTHY)
    first = len(podinfo.store.history(REF))
    podinfo.set_image("podinfo:2")
    revision = eventually(lambda: podinfo.state().canary_revision, what="the new revision")
    podinfo.wait(Stage.HEALTHY, stable_revision=revision)
    state = podinfo.state()
    wanted = int(tracing.trace_id(state.uid, state.stable_revision), 16)
    mine: list[ReadableSpan] = [
        s
        for s in spans.get_finished_spans()
        if s.context is not None and s.context.trace_id == wanted
    ]
    history = podinfo.store.history(REF)[first:]
    assert len(mine) == len(history), [s.name for s in mine]
    ids = {s.context.span_id for s in mine if s.context is not None}
    roots = [s for s in mine if s.parent is None]
    assert len(roots) == 1, [s.name for s in roots]
    assert all(s.parent.span_id in ids for s in mine if s.parent is not None)
    names = {s.name.split(" ")[0] for s in mine}
    assert {"start", "step", "promote", "finalize"} <= names
    for span in mine:
        attributes = dict(span.attributes or {})
        assert attributes["cloudevents.event_type"] in span.name
        assert attributes["ferry.stage.to"]
    promoted = [s for s in mine if (s.attributes or {}).get("ferry.stage.to") == "healthy"]
    assert len(promoted) == 1
