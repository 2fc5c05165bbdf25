"""The local Broker's delivery over real HTTP: replies, retries, dead letters, concurrency.

Covered: replies (binary and structured) re-entering the Broker and a malformed reply dead
lettered, retries with exponential backoff then success, exhaustion to the dead letter sink with
Knative's error extensions (the Broker's delivery as fallback), which codes are retried (400
not, 404 yes, connection refused yes), retries not holding workers, many concurrent events each
delivered exactly once, delivery records and their timeline line.

Subscribers are small real HTTP servers on loopback (:class:`Receiver`); nothing is mocked.
"""

from __future__ import annotations

import base64
import threading
import time

from cloudevents.core.v1.event import CloudEvent

from local import broker as lb
from shared import events
from tests.local.conftest import (
    Answer,
    Receiver,
    add,
    broker_doc,
    event,
    ksvc,
    post,
    resolver,
    trigger_doc,
)

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
