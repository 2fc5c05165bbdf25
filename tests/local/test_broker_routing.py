"""The local Broker routes only by its manifests: Trigger filters, destinations, refusals.

Covered: filter routing over real HTTP (``filter.attributes`` with extensions and the any-value
form, the ``filters`` dialects exact/prefix/suffix/all/any/not, ``filters`` overriding
``filter``), ref and relative-uri destinations, binary delivery with ``Prefer: reply``, manifest
loading (multi-document, ``kind: List``, directories) and refusal (CESQL, unknown broker, ...),
ISO-8601 durations and backoff, attributes rendered for filters as on the wire.

Subscribers are small real HTTP servers on loopback (:class:`Receiver`); nothing is mocked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from local import broker as lb
from shared import events
from tests.local.conftest import (
    Receiver,
    add,
    broker_doc,
    event,
    ksvc,
    post,
    resolver,
    trigger_doc,
)

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
