"""A function as an HTTP endpoint (``shared.endpoint.create_app``), through Flask's test client.

Covered: binary and structured CloudEvents reach the handler with a function-labelled context
(whose Redis is real); a reply comes back in binary mode (ce-* headers, data as the body) with
200, no reply is 202; malformed requests (not a CloudEvent, a required attribute missing, bad
JSON) are 400 with a readable message and never reach the handler; a handler's MalformedEvent
is 400, its transient faults (Kubernetes, a state conflict, Redis unreachable) are 503, an
injected crash and an unexpected exception are 500, the latter without leaking its text.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from cloudevents.core.v1.event import CloudEvent
from flask.testing import FlaskClient

from shared import events, kube, state
from shared.context import Context
from shared.endpoint import create_app
from shared.events import RolloutRef, Type
from shared.state import AlreadyProcessed

REF = RolloutRef("demo", "podinfo")


class Probe:
    """A real handler: it records what it was given, commits a transition for the event in
    Redis (as a function does) and replies with ``reply`` (or raises ``error``)."""

    def __init__(self, reply: CloudEvent | None = None, error: Exception | None = None) -> None:
        self.reply, self.error = reply, error
        self.seen: list[tuple[CloudEvent, Context]] = []

    def __call__(self, event: CloudEvent, ctx: Context) -> CloudEvent | None:
        self.seen.append((event, ctx))
        if self.error is not None:
            raise self.error
        old = ctx.store.load(REF)
        with contextlib.suppress(AlreadyProcessed):
            ctx.store.commit(
                old,
                old.with_(step=old.step + 1),
                event_key=events.key(event),
                history={"note": "probe"},
            )
        return self.reply


Serve = Callable[[Probe], FlaskClient]


@pytest.fixture
def serve(context: Context) -> Serve:
    def start(probe: Probe) -> FlaskClient:
        return create_app("probe", probe, context).test_client()

    return start


def step_started() -> CloudEvent:
    return events.new(
        Type.STEP_STARTED, REF, data={"why": "test"}, revision="abc123", attempt=1, step=0
    )


def binary(event: CloudEvent) -> dict[str, Any]:
    headers, body = events.to_http(event)
    return {"headers": headers, "data": body}


def structured(event: CloudEvent) -> dict[str, Any]:
    return {
        "headers": {"content-type": "application/cloudevents+json; charset=utf-8"},
        "data": events.to_json(event).encode(),
    }


@pytest.mark.parametrize("mode", [binary, structured], ids=["binary", "structured"])
def test_an_event_reaches_the_handler_and_its_reply_comes_back_in_binary_mode(
    serve: Serve, context: Context, mode: Callable[[CloudEvent], dict[str, Any]]
) -> None:
    sent = step_started()
    reply = events.new(Type.STEP_COMPLETED, REF, data={"ok": 1}, revision="abc123", step=0)
    probe = Probe(reply=reply)

    response = serve(probe).post("/", **mode(sent))

    assert response.status_code == 200
    ((got, ctx),) = probe.seen
    assert (got.get_id(), got.get_type(), got.get_subject()) == (
        sent.get_id(),
        Type.STEP_STARTED,
        REF.subject,
    )
    assert events.ext(got, events.Ext.REVISION) == "abc123"
    assert events.data(got) == {"why": "test"}
    assert ctx.function == "probe"
    assert context.store.processed(REF, events.key(sent))  # the handler's Redis is real
    headers = {k.lower(): v for k, v in response.headers.items()}
    assert headers["ce-id"] == reply.get_id()
    assert headers["ce-type"] == Type.STEP_COMPLETED
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-subject"] == REF.subject
    assert json.loads(response.data) == {"ok": 1}
    echoed = events.from_http(headers, response.data)
    assert events.ext(echoed, events.Ext.STEP) == "0"


def test_no_reply_is_202_with_no_body(serve: Serve) -> None:
    probe = Probe()
    response = serve(probe).post("/", **binary(step_started()))
    assert response.status_code == 202
    assert response.data == b""
    assert not any(k.lower().startswith("ce-") for k, _ in response.headers.items())
    assert len(probe.seen) == 1


def _without_id() -> dict[str, Any]:
    request = binary(step_started())
    request["headers"] = {k: v for k, v in request["headers"].items() if k.lower() != "ce-id"}
    return request


def _structured_without_type() -> dict[str, Any]:
    document = json.loads(events.to_json(step_started()))
    del document["type"]
    return {
        "headers": {"content-type": "application/cloudevents+json"},
        "data": json.dumps(document).encode(),
    }


MALFORMED: dict[str, tuple[Callable[[], dict[str, Any]], str]] = {
    "plain-json": (
        lambda: {"headers": {"content-type": "application/json"}, "data": b'{"id": "1"}'},
        "not a CloudEvent",
    ),
    "binary-without-id": (_without_id, "missing required attribute(s): id"),
    "structured-bad-json": (
        lambda: {"headers": {"content-type": "application/cloudevents+json"}, "data": b"{nope"},
        "not JSON",
    ),
    "structured-without-type": (_structured_without_type, "missing required attribute(s): type"),
    "structured-too-deep": (
        lambda: {
            "headers": {"content-type": "application/cloudevents+json"},
            "data": events.to_json(step_started())[:-1].encode()
            + b', "x": '
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}",
        },
        "nested too deeply",
    ),
    "binary-data-too-deep": (
        lambda: {**binary(step_started()), "data": b"[" * 100_000 + b"]" * 100_000},
        "nested too deeply",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_request_is_400_and_never_reaches_the_handler(serve: Serve, case: str) -> None:
    build, message = MALFORMED[case]
    probe = Probe()
    response = serve(probe).post("/", **build())
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert text.startswith("malformed CloudEvent:") and message in text, text
    assert probe.seen == []


@pytest.mark.parametrize(
    "error",
    [
        kube.Transient("the API server is overloaded"),
        state.Conflict("demo/podinfo changed concurrently"),
        redis.ConnectionError("Redis went away"),
    ],
    ids=["kube-transient", "state-conflict", "redis-down"],
)
def test_a_transient_fault_is_503_so_the_broker_retries(serve: Serve, error: Exception) -> None:
    response = serve(Probe(error=error)).post("/", **binary(step_started()))
    assert response.status_code == 503
    assert "retry" in response.get_data(as_text=True)


def test_a_handler_refusing_the_event_is_400_with_its_reason(serve: Serve) -> None:
    error = events.MalformedEvent("step.started needs the step extension")
    response = serve(Probe(error=error)).post("/", **binary(step_started()))
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert Type.STEP_STARTED in text and "needs the step extension" in text


def test_an_unexpected_exception_is_500_without_its_text(serve: Serve) -> None:
    error = RuntimeError("password=hunter2 in a stack trace")
    response = serve(Probe(error=error)).post("/", **binary(step_started()))
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "hunter2" not in text and "RuntimeError" not in text
    assert "internal error" in text
