"""The local Broker over real HTTP: Trigger routing, replies, retries, dead letters, ingress.

Covered: filter routing (``filter.attributes`` with extensions and the any-value form, the
``filters`` dialects exact/prefix/suffix/all/any/not, ``filters`` overriding ``filter``), ref
and relative-uri destinations, replies (binary and structured) re-entering the Broker, retries
with exponential backoff then success, exhaustion to the dead letter sink with Knative's error
extensions (the Broker's delivery as fallback), which codes are retried (400 not, 404 yes,
connection refused yes), retries not holding workers, ingress answers (202/400/404/405), many
concurrent events each delivered exactly once, manifest loading and refusal (CESQL, unknown
broker, ...), ISO-8601 durations, delivery records and a bounded stop.

Subscribers are small real HTTP servers on loopback (:class:`Receiver`); nothing is mocked.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml
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


# -- routing ------------------------------------------------------------------------------


def test_each_event_reaches_exactly_the_triggers_whose_filter_matches(
    receivers: dict[str, Receiver],
) -> None:
    names = [
        "all",
        "by-type",
        "by-extension",
        "has-revision",
        "prefix",
        "suffix-not",
        "any-step",
        "all-of",
        "filters-win",
        "custom-path",
    ]
    for name in names:
        add(receivers, name)
    manifests = [
        broker_doc(),
        trigger_doc("all", ksvc("all")),
        trigger_doc(
            "by-type", ksvc("by-type"), filter={"attributes": {"type": "dev.ferry.step.started"}}
        ),
        trigger_doc(
            "by-extension",
            ksvc("by-extension"),
            filter={"attributes": {"type": "dev.ferry.step.started", "revision": "r2"}},
        ),
        trigger_doc("has-revision", ksvc("has-revision"), filter={"attributes": {"revision": ""}}),
        trigger_doc("prefix", ksvc("prefix"), filters=[{"prefix": {"type": "dev.ferry.pause."}}]),
        trigger_doc(
            "suffix-not",
            ksvc("suffix-not"),
            filters=[{"suffix": {"type": ".started"}}, {"not": {"exact": {"subject": "ns/skip"}}}],
        ),
        trigger_doc(
            "any-step",
            ksvc("any-step"),
            filters=[{"any": [{"exact": {"step": "1"}}, {"exact": {"step": "2"}}]}],
        ),
        trigger_doc(
            "all-of",
            ksvc("all-of"),
            filters=[{"all": [{"prefix": {"type": "dev.ferry."}}, {"exact": {"revision": "r1"}}]}],
        ),
        trigger_doc(
            "filters-win",
            ksvc("filters-win"),
            filter={"attributes": {"type": "dev.ferry.step.started"}},
            filters=[{"exact": {"type": "dev.ferry.pause.expired"}}],
        ),
        trigger_doc(
            "custom-path",
            {**ksvc("custom-path"), "uri": "/hooks/ferry"},
            filter={"attributes": {"subject": "ns/skip"}},
        ),
    ]
    sent = {
        "a": event(id="a", subject="ns/web", revision="r1", step="1"),
        "b": event(id="b", subject="ns/web", revision="r2", step="3"),
        "c": event(id="c", subject="ns/skip", step="2"),
        "d": event("dev.ferry.pause.expired", id="d", subject="ns/web", revision="r2"),
        "e": event("dev.ferry.pause.expiredx", id="e", subject="ns/web"),
    }
    expected = {
        "all": "abcde",
        "by-type": "abc",
        "by-extension": "b",
        "has-revision": "abd",
        "prefix": "de",
        "suffix-not": "ab",
        "any-step": "ac",
        "all-of": "a",
        "filters-win": "d",
        "custom-path": "c",
    }
    with lb.Broker(manifests, resolver(receivers)) as broker:
        url = broker.ingress_url("ferry", "default")
        for i, ev in enumerate(sent.values()):
            assert post(url, ev, structured=i % 2 == 1) == 202
        assert broker.wait_idle(5)
    for name, ids in expected.items():
        assert sorted(receivers[name].ids()) == sorted(ids), name
    assert set(receivers["custom-path"].paths) == {"/hooks/ferry"}
    delivered = receivers["by-extension"].events[0]
    assert delivered.get_extension("revision") == "r2"
    assert delivered.get_extension(lb.ARRIVAL_TIME)
    assert events.data(delivered) == {"rollout": "web"}
    assert receivers["all"].headers[0]["prefer"] == "reply"
    assert "ce-id" in receivers["all"].headers[0]  # binary content mode


# -- replies ------------------------------------------------------------------------------


def test_a_reply_is_published_back_into_the_broker(receivers: dict[str, Receiver]) -> None:
    def reply(ev: CloudEvent, n: int) -> Answer:
        out = CloudEvent(
            {
                "type": "dev.ferry.step.completed",
                "source": "/ferry/step",
                "subject": ev.get_subject(),
            },
            {"step": 0},
        )
        if ev.get_subject() == "ns/structured":
            return (
                200,
                {"content-type": "application/cloudevents+json"},
                events.to_json(out).encode(),
            )
        headers, body = events.to_http(out)
        return 200, headers, body

    add(receivers, "starter", Receiver(reply))
    add(receivers, "finisher")
    records: list[lb.DeliveryRecord] = []
    manifests = [
        broker_doc(),
        trigger_doc(
            "starter", ksvc("starter"), filter={"attributes": {"type": "dev.ferry.step.started"}}
        ),
        trigger_doc(
            "finisher",
            ksvc("finisher"),
            filter={"attributes": {"type": "dev.ferry.step.completed"}},
        ),
    ]
    with lb.Broker(manifests, resolver(receivers), on_delivery=records.append) as broker:
        assert broker.publish(event(subject="ns/binary")) == 1
        assert broker.publish(event(subject="ns/structured"), "ferry", "default") == 1
        assert broker.wait_idle(5)
    got = receivers["finisher"].events
    assert sorted(e.get_subject() or "" for e in got) == ["ns/binary", "ns/structured"]
    assert all(e.get_type() == "dev.ferry.step.completed" for e in got)
    assert all(events.data(e) == {"step": 0} for e in got)
    outcomes = sorted((r.trigger, r.outcome, r.reply_type) for r in records)
    assert outcomes == [
        ("ferry/finisher", lb.Outcome.DELIVERED, None),
        ("ferry/finisher", lb.Outcome.DELIVERED, None),
        ("ferry/starter", lb.Outcome.REPLIED, "dev.ferry.step.completed"),
        ("ferry/starter", lb.Outcome.REPLIED, "dev.ferry.step.completed"),
    ]
    line = lb.describe(records[0])
    assert "dev.ferry.step" in line and "rollout" not in line  # no event data in the timeline


def test_a_malformed_reply_goes_to_the_dead_letter_sink(receivers: dict[str, Receiver]) -> None:
    add(receivers, "bad-replier", Receiver(lambda ev, n: (200, {"ce-type": "x.y"}, b"{}")))
    dls = add(receivers, "dls")
    manifests = [
        broker_doc(),
        trigger_doc("bad", ksvc("bad-replier"), delivery={"deadLetterSink": ksvc("dls")}),
    ]
    with lb.Broker(manifests, resolver(receivers)) as broker:
        broker.publish(event(id="m1"))
        assert broker.wait_idle(5)
        ingress = broker.ingress_url("ferry", "default")
    (dead,) = dls.events
    assert dead.get_id() == "m1"
    assert dead.get_extension(lb.ERROR_CODE) == "400"
    assert dead.get_extension(lb.ERROR_DEST) == ingress


# -- retries and dead letters -------------------------------------------------------------


def test_retries_back_off_exponentially_then_succeed(receivers: dict[str, Receiver]) -> None:
    flaky = add(receivers, "flaky", Receiver(lambda ev, n: (503 if n < 3 else 200, {}, b"")))
    delivery = {"retry": 3, "backoffPolicy": "exponential", "backoffDelay": "PT0.1S"}
    manifests = [broker_doc(), trigger_doc("flaky", ksvc("flaky"), delivery=delivery)]
    with lb.Broker(manifests, resolver(receivers)) as broker:
        broker.publish(event(id="r1"))
        assert broker.wait_idle(5)
        (record,) = broker.deliveries()
    assert flaky.ids() == ["r1", "r1", "r1"]
    first_gap = flaky.arrivals[1] - flaky.arrivals[0]
    second_gap = flaky.arrivals[2] - flaky.arrivals[1]
    assert 0.09 <= first_gap < 0.3  # delay * 2^0
    assert 0.19 <= second_gap < 0.5  # delay * 2^1
    assert second_gap - first_gap >= 0.08
    assert (record.outcome, record.attempts, record.status) == (lb.Outcome.DELIVERED, 3, 200)


def test_exhausted_retries_go_to_the_dead_letter_sink_with_error_extensions(
    receivers: dict[str, Receiver],
) -> None:
    failing = add(receivers, "failing", Receiver(lambda ev, n: (500, {}, b"boom")))
    dls = add(receivers, "dls")
    # The Trigger has no delivery: the Broker's applies.
    broker_delivery = {
        "retry": 2,
        "backoffPolicy": "linear",
        "backoffDelay": "PT0.01S",
        "deadLetterSink": ksvc("dls"),
    }
    manifests = [broker_doc(delivery=broker_delivery), trigger_doc("failing", ksvc("failing"))]
    with lb.Broker(manifests, resolver(receivers)) as broker:
        broker.publish(event(id="x1", subject="ns/web", revision="r9"))
        assert broker.wait_idle(5)
        (record,) = broker.deliveries()
    assert failing.ids() == ["x1", "x1", "x1"]
    (dead,) = dls.events
    assert dead.get_id() == "x1" and dead.get_subject() == "ns/web"
    assert dead.get_extension("revision") == "r9"
    assert events.data(dead) == {"rollout": "web"}
    assert dead.get_extension(lb.ERROR_CODE) == "500"
    assert dead.get_extension(lb.ERROR_DEST) == failing.url
    assert base64.b64decode(dead.get_extension(lb.ERROR_DATA)) == b"boom"
    assert (record.outcome, record.attempts, record.dead_letter_status) == (
        lb.Outcome.DEAD_LETTERED,
        3,
        200,
    )


def test_400_is_not_retried_but_404_is(receivers: dict[str, Receiver]) -> None:
    rejecting = add(receivers, "rejecting", Receiver(lambda ev, n: (400, {}, b"never")))
    warming = add(receivers, "warming", Receiver(lambda ev, n: (404 if n == 1 else 202, {}, b"")))
    dls = add(receivers, "dls")
    delivery = {"retry": 5, "deadLetterSink": ksvc("dls")}
    manifests = [
        broker_doc(),
        trigger_doc("rejecting", ksvc("rejecting"), delivery=delivery),
        trigger_doc("warming", ksvc("warming"), delivery=delivery),
    ]
    with lb.Broker(manifests, resolver(receivers)) as broker:
        broker.publish(event(id="n1"))
        assert broker.wait_idle(5)
    assert rejecting.ids() == ["n1"]
    assert warming.ids() == ["n1", "n1"]
    (dead,) = dls.events
    assert dead.get_extension(lb.ERROR_CODE) == "400"
    assert base64.b64decode(dead.get_extension(lb.ERROR_DATA)) == b"never"


def test_no_answer_is_retried_then_dropped_without_a_dead_letter_sink() -> None:
    closed = Receiver().start()
    url = closed.url
    closed.stop()  # nothing listens there any more
    delivery = {"retry": 2, "backoffPolicy": "linear", "backoffDelay": "PT0.01S"}
    manifests = [broker_doc(), trigger_doc("gone", {"uri": url}, delivery=delivery)]
    with lb.Broker(manifests, resolver({})) as broker:
        broker.publish(event(id="g1"))
        assert broker.wait_idle(5)
        (record,) = broker.deliveries()
    assert (record.outcome, record.attempts, record.status) == (lb.Outcome.DROPPED, 3, -1)


def test_a_waiting_retry_does_not_hold_a_worker(receivers: dict[str, Receiver]) -> None:
    slow_retry = {"retry": 1, "backoffPolicy": "exponential", "backoffDelay": "PT0.6S"}
    add(receivers, "failing-once", Receiver(lambda ev, n: (503 if n == 1 else 200, {}, b"")))
    fine = add(receivers, "fine")
    manifests = [
        broker_doc(),
        trigger_doc(
            "failing-once",
            ksvc("failing-once"),
            delivery=slow_retry,
            filter={"attributes": {"subject": "ns/flaky"}},
        ),
        trigger_doc("fine", ksvc("fine"), filter={"attributes": {"subject": "ns/ok"}}),
    ]
    with lb.Broker(manifests, resolver(receivers), workers=1) as broker:
        start = time.monotonic()
        broker.publish(event(subject="ns/flaky"))
        time.sleep(0.05)
        for i in range(5):
            broker.publish(event(id=f"ok{i}", subject="ns/ok"))
        assert len(fine.wait_for(5, timeout=2)) == 5
        assert time.monotonic() - start < 0.5  # all done while the retry still waits
        assert broker.wait_idle(5)
    retried = receivers["failing-once"].ids()
    assert len(retried) == 2 and len(set(retried)) == 1


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


# -- concurrency --------------------------------------------------------------------------


def test_many_concurrent_events_are_each_delivered_exactly_once(
    receivers: dict[str, Receiver],
) -> None:
    first = add(receivers, "first", Receiver(delay=0.01))
    second = add(receivers, "second", Receiver(delay=0.01))
    manifests = [
        broker_doc(),
        trigger_doc("first", ksvc("first")),
        trigger_doc("second", ksvc("second"), filters=[{"prefix": {"type": "dev.ferry."}}]),
    ]
    ids = [f"c{i}" for i in range(120)]
    with lb.Broker(manifests, resolver(receivers), workers=8) as broker:
        url = broker.ingress_url("ferry", "default")

        def sender(part: list[str]) -> None:
            for event_id in part:
                assert post(url, event(id=event_id)) == 202

        threads = [threading.Thread(target=sender, args=(ids[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert broker.wait_idle(10)
        records = broker.deliveries()
    for receiver in (first, second):
        assert sorted(receiver.ids()) == sorted(ids)
    assert first.max_in_flight > 1  # delivered concurrently
    assert len(records) == 240 and {r.outcome for r in records} == {lb.Outcome.DELIVERED}


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


# -- manifests ----------------------------------------------------------------------------


def test_load_manifests_keeps_triggers_and_brokers(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text(
        yaml.safe_dump_all(
            [
                broker_doc(),
                {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {}},
                trigger_doc("t1", {"uri": "http://127.0.0.1:1/"}),
            ]
        )
    )
    listed = {"apiVersion": "v1", "kind": "List", "items": [trigger_doc("t2", ksvc("x"))]}
    (tmp_path / "sub" / "b.yml").write_text(yaml.safe_dump(listed))
    (tmp_path / "notes.txt").write_text("kind: Trigger")
    found = lb.load_manifests(tmp_path)
    assert [(d["kind"], d["metadata"]["name"]) for d in found] == [
        ("Broker", "default"),
        ("Trigger", "t1"),
        ("Trigger", "t2"),
    ]
    assert lb.load_manifests([tmp_path / "sub" / "b.yml"])[0]["metadata"]["name"] == "t2"


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        (trigger_doc("q", ksvc("x"), filters=[{"cesql": "type = 'a'"}]), "CESQL"),
        (
            trigger_doc("q", ksvc("x"), filters=[{"exact": {"type": "a"}, "prefix": {"a": "b"}}]),
            "exactly one",
        ),
        (trigger_doc("q", ksvc("x"), filters=[{"any": []}]), "non-empty"),
        (trigger_doc("q", ksvc("x"), filter={"attributes": {"step": 3}}), "string"),
        (trigger_doc("q", {**ksvc("x"), "uri": "http://elsewhere/"}), "absolute uri"),
        (trigger_doc("q", {"uri": "/relative"}), "absolute"),
        (
            {**trigger_doc("q", ksvc("x")), "spec": {"broker": "nope", "subscriber": ksvc("x")}},
            "nope",
        ),
        (trigger_doc("q", ksvc("x"), delivery={"backoffDelay": "5 seconds"}), "ISO-8601"),
        (trigger_doc("q", ksvc("unknown")), "cannot resolve"),
    ],
)
def test_manifests_the_local_broker_cannot_honour_are_refused(
    trigger: dict[str, Any], message: str
) -> None:
    def resolve(ref: dict[str, Any]) -> str:
        if ref["name"] != "x":
            raise KeyError(ref["name"])
        return "http://127.0.0.1:1"

    with pytest.raises(lb.ManifestError, match=message):
        lb.Broker([broker_doc(), trigger], resolve)


def test_durations_and_backoff_follow_knative() -> None:
    assert lb.parse_duration("PT0.2S") == pytest.approx(0.2)
    assert lb.parse_duration("PT1M30S") == 90
    assert lb.parse_duration("P1DT1H") == 90000
    for bad in ("P1Y", "PT", "1s", "P"):
        with pytest.raises(lb.ManifestError):
            lb.parse_duration(bad)
    exponential = lb.DeliverySpec(retry=3, backoff_policy="exponential", backoff_delay=0.5)
    linear = lb.DeliverySpec(retry=3, backoff_policy="linear", backoff_delay=0.5)
    assert [exponential.backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert [linear.backoff(n) for n in (1, 2, 3)] == [0.0, 0.5, 1.0]
    assert lb.DeliverySpec(retry=3, backoff_delay=0.5).backoff(2) == 0.0  # no policy


def test_attribute_strings_render_time_like_the_wire() -> None:
    ev = events.from_http(*events.to_http(event(id="t")))
    rendered = lb.attribute_strings(ev)
    assert rendered["time"].endswith("Z") and rendered["id"] == "t"
    assert json.dumps(rendered)  # every value is a string
