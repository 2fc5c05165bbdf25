"""Shared by the local runtime's tests: a real HTTP subscriber and Broker manifest builders.

:class:`Receiver` is a small real HTTP server on loopback that records the CloudEvents it is
sent and answers as told; the ``receivers`` fixture stops every one a test started. The builders
make Broker and Trigger manifests, Knative Service refs, a resolver over receivers, and events.
Nothing here is mocked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3
from cloudevents.core.v1.event import CloudEvent
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local import broker as lb
from shared import events

Answer = tuple[int, dict[str, str], bytes]
Respond = Callable[[CloudEvent, int], Answer]


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Receiver:
    """A real HTTP subscriber on loopback that records every CloudEvent it is sent.

    ``respond(event, n)`` decides the answer, ``n`` being how many times this event id has
    arrived (1 for the first); the default answers 200 with no body.
    """

    def __init__(self, respond: Respond | None = None, delay: float = 0.0) -> None:
        self.respond = respond or (lambda event, n: (200, {}, b""))
        self.delay = delay
        self.events: list[CloudEvent] = []
        self.arrivals: list[float] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._cond = threading.Condition()
        self._server: BaseWSGIServer | None = None

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        headers = {k.lower(): v for k, v in request.headers.items()}
        event = events.from_http(headers, request.get_data())
        with self._cond:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            n = 1 + sum(1 for e in self.events if e.get_id() == event.get_id())
            self.events.append(event)
            self.arrivals.append(time.monotonic())
            self.paths.append(request.path)
            self.headers.append(headers)
        try:
            if self.delay:
                time.sleep(self.delay)
            status, answer_headers, body = self.respond(event, n)
        finally:
            with self._cond:
                self.in_flight -= 1
                self._cond.notify_all()
        return Response(body, status=status, headers=answer_headers)(environ, start_response)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> Receiver:
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[CloudEvent]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.events) < count and time.monotonic() < deadline:
                self._cond.wait(timeout=0.05)
            return list(self.events)

    def ids(self) -> list[str]:
        with self._cond:
            return [e.get_id() for e in self.events]


# -- helpers ------------------------------------------------------------------------------


def broker_doc(name: str = "default", delivery: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "metadata": {"name": name, "namespace": "ferry"},
        "spec": {},
    }
    if delivery:
        doc["spec"]["delivery"] = delivery
    return doc


def trigger_doc(name: str, subscriber: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": name, "namespace": "ferry"},
        "spec": {"broker": "default", "subscriber": subscriber, **spec},
    }


def ksvc(name: str) -> dict[str, Any]:
    return {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": name}}


def resolver(receivers: dict[str, Receiver]) -> lb.Resolver:
    def resolve(ref: dict[str, Any]) -> str:
        assert ref["namespace"] == "ferry", ref
        return receivers[ref["name"]].url

    return resolve


def event(type_: str = "dev.ferry.step.started", **attributes: Any) -> CloudEvent:
    data = attributes.pop("data", {"rollout": "web"})
    return CloudEvent({"type": type_, "source": "/test", **attributes}, data)


_http = urllib3.PoolManager(retries=False)


def post(url: str, ev: CloudEvent, structured: bool = False) -> int:
    if structured:
        headers = {"content-type": "application/cloudevents+json"}
        body = events.to_json(ev).encode()
    else:
        headers, body = events.to_http(ev)
    return _http.request("POST", url, body=body, headers=headers).status


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    started: dict[str, Receiver] = {}
    yield started
    for receiver in started.values():
        receiver.stop()


def add(receivers: dict[str, Receiver], name: str, receiver: Receiver | None = None) -> Receiver:
    receivers[name] = (receiver or Receiver()).start()
    return receivers[name]
