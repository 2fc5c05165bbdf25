"""The CloudEvent catalogue and HTTP binding: ids, extensions, binary/structured parsing, errors."""

from __future__ import annotations

import json

import pytest

from shared import events
from shared.events import Ext, RolloutRef, Type

REF = RolloutRef("demo", "podinfo")


def test_every_ferry_type_follows_the_naming_rule() -> None:
    for type_ in Type:
        if type_.value.startswith("dev.ferry."):
            noun, verb = type_.value.split(".")[2:]
            assert noun.isalpha() and verb.endswith("ed"), type_


def test_the_same_fact_has_the_same_id_and_a_new_fact_a_new_one() -> None:
    a = events.new(Type.STEP_STARTED, REF, revision="abc", attempt=1, step=0)
    b = events.new(Type.STEP_STARTED, REF, revision="abc", attempt=1, step=0)
    c = events.new(Type.STEP_STARTED, REF, revision="abc", attempt=1, step=1)
    assert a.get_id() == b.get_id() != c.get_id()
    assert events.key(a) == events.key(b)


def test_extensions_outside_the_catalogue_are_refused() -> None:
    with pytest.raises(ValueError):
        events.new(Type.STEP_STARTED, REF, bogus="1")


def test_binary_round_trip() -> None:
    event = events.new(Type.PAUSE_EXPIRED, REF, data={"x": 1}, revision="r1", attempt=2, step=3)
    headers, body = events.to_http(event)
    assert headers["ce-type"] == "dev.ferry.pause.expired"
    back = events.from_http(headers, body)
    assert back.get_subject() == "demo/podinfo"
    assert events.ext_int(back, Ext.STEP) == 3
    assert events.data(back) == {"x": 1}


def test_structured_mode_is_accepted() -> None:
    event = events.new(Type.TICK, REF)
    back = events.from_json(events.to_json(event))
    assert back.get_id() == event.get_id()


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"content-type": "application/json"}, b"{}"),
        ({"ce-type": "x", "ce-source": "/s", "ce-specversion": "1.0"}, b""),
        ({"content-type": "application/cloudevents+json"}, b"not json"),
        ({"content-type": "application/cloudevents+json"}, json.dumps({"type": "x"}).encode()),
    ],
)
def test_malformed_events_are_refused(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(events.MalformedEvent):
        events.from_http(headers, body)


def test_kubernetes_events_dedupe_on_uid_and_resource_version() -> None:
    obj = {"metadata": {"uid": "u1", "resourceVersion": "7"}}

    def apiserver(event_id: str) -> events.CloudEvent:
        return events.CloudEvent(
            {"type": Type.RESOURCE_UPDATED.value, "source": "https://k8s", "id": event_id},
            obj,
        )

    assert events.key(apiserver("a")) == events.key(apiserver("b")) == "k8s:u1:7:update"


def test_subjects_must_name_a_rollout() -> None:
    with pytest.raises(events.MalformedEvent):
        RolloutRef.parse("no-slash")
    assert RolloutRef.parse("ns/name") == RolloutRef("ns", "name")
