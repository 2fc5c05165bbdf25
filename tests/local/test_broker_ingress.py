"""The local Broker's ingress and lifecycle over real HTTP.

Covered: ingress answers like Knative's (202, 400 for a malformed or incomplete event, 404 for
an unknown Broker, 405), 413 for a body over the limit, declared or chunked, ``ingress_url``
refusing an unknown Broker, and a bounded stop with a hung subscriber after which nothing can
be published.

Subscribers are small real HTTP servers on loopback (:class:`Receiver`); nothing is mocked.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from local import broker as lb
from shared import events
from tests.local.conftest import (
    Receiver,
    _http,
    add,
    broker_doc,
    event,
    ksvc,
    resolver,
    trigger_doc,
)

# -- ingress ------------------------------------------------------------------------------


def test_ingress_answers_like_knative(receivers: dict[str, Receiver]) -> None:
    sink = add(receivers, "sink")
    manifests = [broker_doc(), trigger_doc("sink", ksvc("sink"))]
    with lb.Broker(manifests, resolver(receivers)) as broker:
        url = broker.ingress_url("ferry", "default")
        good_headers, good_body = events.to_http(event(id="ok"))

        def send(path: str, headers: dict[str, str], body: bytes, method: str = "POST") -> Any:
            return _http.request(method, path, headers=headers, body=body)

        assert send(url, good_headers, good_body).status == 202
        junk = send(url, {"content-type": "text/plain"}, b"hello")
        assert junk.status == 400 and b"not a CloudEvent" in junk.data
        no_id = {k: v for k, v in good_headers.items() if k != "ce-id"}
        missing = send(url, no_id, good_body)
        assert missing.status == 400 and b"id" in missing.data
        bad_json = send(url, {"content-type": "application/cloudevents+json"}, b"{nope")
        assert bad_json.status == 400 and b"JSON" in bad_json.data
        assert send(f"{broker.url}/ferry/other", good_headers, good_body).status == 404
        assert send(f"{broker.url}/other/default", good_headers, good_body).status == 404
        assert send(url, {}, b"", method="GET").status == 405
        with pytest.raises(lb.UnknownBroker):
            broker.ingress_url("ferry", "other")
        assert broker.wait_idle(5)
    assert sink.ids() == ["ok"]


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "declared"])
def test_an_oversized_body_is_413_without_being_read_whole(
    receivers: dict[str, Receiver], chunked: bool
) -> None:
    sink = add(receivers, "sink")
    manifests = [broker_doc(), trigger_doc("sink", ksvc("sink"))]
    with lb.Broker(manifests, resolver(receivers)) as broker:
        headers, _ = events.to_http(event(id="big"))
        chunks = (b"x" * 65536 for _ in range(1600))  # 100 MiB, no Content-Length
        body = chunks if chunked else b"x" * (lb.MAX_BODY + 1)
        try:
            answer = requests.post(
                broker.ingress_url("ferry", "default"), headers=headers, data=body, timeout=30
            )
            status = answer.status_code
        except requests.ConnectionError:  # the server answered and closed while we sent
            status = 413
        assert status == 413  # (the ingress read no more than its limit: tests/shared)
        assert broker.wait_idle(5)
    assert sink.ids() == []


def test_stop_is_bounded_with_a_hung_subscriber(receivers: dict[str, Receiver]) -> None:
    add(receivers, "hung", Receiver(delay=3.0))
    manifests = [broker_doc(), trigger_doc("hung", ksvc("hung"))]
    broker = lb.Broker(manifests, resolver(receivers)).start()
    broker.publish(event())
    time.sleep(0.1)
    started = time.monotonic()
    broker.stop(grace=0.2)
    assert time.monotonic() - started < 1.0
    with pytest.raises(RuntimeError):
        broker.publish(event())
