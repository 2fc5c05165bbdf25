"""The Trigger manifests are the only routing table, as the running broker applies them.

Covered, through the broker's HTTP ingress of a running ``ferry up``: an event of every type in
the catalogue reaches exactly the functions whose Trigger filter matches it (``ROUTES``), once
each; an unknown type reaches nobody; and with one Trigger removed from a copy of the manifests,
that event type reaches nobody while every other type is routed as before. The events are about
a rollout that does not exist, so the functions change nothing (most acknowledge them with 202;
one whose type needs more than these events carry answers 400, which is still a delivery).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from cloudevents.core.v1.event import CloudEvent

import functions
from local.runtime import Runtime
from shared import events
from shared.events import RolloutRef, Type
from tests.flow.conftest import Trigger, edited_manifests, fast_options, publish

NOWHERE = RolloutRef("nowhere", "ghost")
UNKNOWN = "dev.ferry.nothing.happened"


def one_of(type_: Type | str) -> CloudEvent:
    """An event of ``type_`` about a rollout that does not exist (nothing to do for anyone)."""
    if type_ in (Type.RESOURCE_ADDED, Type.RESOURCE_UPDATED, Type.RESOURCE_DELETED):
        configmap = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "ghost",
                "namespace": "nowhere",
                "uid": "u",
                "resourceVersion": "1",
            },
        }
        return events.new(
            Type(type_),
            NOWHERE,
            data=configmap,
            kind="ConfigMap",
            apiversion="v1",
            name="ghost",
            namespace="nowhere",
        )
    if type_ == UNKNOWN:
        return CloudEvent(
            {"type": UNKNOWN, "source": "/test", "id": "unknown-1", "subject": NOWHERE.subject}
        )
    return events.new(Type(type_), NOWHERE, revision="0000000000", attempt=1, step=0, generation=1)


def routes_of(runtime: Runtime, types: list[Type | str]) -> dict[str, Counter[str]]:
    """Send one event of each type to the broker's ingress; for each type, how many times each
    function received it."""
    assert runtime.broker is not None
    sent = {}
    for type_ in types:
        event = one_of(type_)
        publish(runtime, event)
        sent[event.get_id()] = str(type_)
    assert runtime.broker.wait_idle(timeout=15.0)
    by_url = {runtime.function_url(name): name for name in functions.ROUTES}
    received: dict[str, Counter[str]] = {str(t): Counter() for t in types}
    for record in runtime.broker.deliveries():
        if record.event_id in sent:
            # The function got it and answered (202 for a no-op; a function may also refuse an
            # event that lacks what its own type needs: routing is what is checked here).
            assert record.status in (202, 400), record
            received[sent[record.event_id]][by_url[record.subscriber]] += 1
    return received


def expected(*removed: Type) -> dict[str, Counter[str]]:
    table: dict[str, Counter[str]] = {str(t): Counter() for t in Type}
    for name, types in functions.ROUTES.items():
        for type_ in types:
            if type_ not in removed:
                table[str(type_)][name] += 1
    table[UNKNOWN] = Counter()
    return table


def test_each_event_reaches_exactly_the_functions_whose_trigger_matches() -> None:
    with Runtime(fast_options()) as runtime:
        received = routes_of(runtime, [*Type, UNKNOWN])
    assert received == expected()
    assert received[UNKNOWN] == Counter()
    assert received[Type.ROLLOUT_INITIALIZED] == Counter()  # a notice: no function handles it
    assert received[Type.ROLLOUT_PROMOTED] == Counter({"gate": 1})  # post-rollout hooks
    assert received[Type.PAUSE_EXPIRED] == Counter({"advance": 1})


def test_a_removed_trigger_removes_the_route(tmp_path: Path) -> None:
    def drop_step_started(triggers: list[Trigger]) -> list[Trigger]:
        kept = [t for t in triggers if t["metadata"]["name"] != "ferry-step-step-started"]
        assert len(kept) == len(triggers) - 1
        return kept

    manifests = edited_manifests(tmp_path / "knative", drop_step_started)
    with Runtime(fast_options(manifests=manifests)) as runtime:
        received = routes_of(runtime, [*Type, UNKNOWN])
    assert received[Type.STEP_STARTED] == Counter()
    assert received == expected(Type.STEP_STARTED)
