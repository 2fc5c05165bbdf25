"""Idempotency of the whole flow: at-least-once, unordered, concurrent delivery, and crashes.

Covered, each on the full local runtime (broker, HTTP functions, Redis, simulator):
- every event delivered twice (each Trigger doubled in the manifests): the rollout is promoted
  with exactly the transitions of a run without duplicates, each recorded once;
- every event the broker delivered during a promotion, replayed afterwards in shuffled order,
  twice: nothing changes (state, history, Kubernetes objects);
- one event handled by 8 concurrent requests: one history entry, one effect;
- every function crashing once between its decision and its commit (fault injection): the
  broker's retries heal it and the rollout is promoted with the same transitions;
- every function crashing once after its commit, before it converged and replied: the
  redelivery finds it committed, converges (the weights are the state's at every step, seen
  through a watch) and gives the committed reply, so the rollout goes on to the same end;
- a delivery of an event long after the rollout moved on gets no reply: answering it again
  would replay the chain of transitions that followed it.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cloudevents.core.v1.event import CloudEvent
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

import functions
from local import demo
from local.broker import Outcome
from local.runtime import Runtime
from shared import events
from shared.events import Type
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import (
    REF,
    Demo,
    Recorder,
    Trigger,
    distinct,
    edited_manifests,
    fast_options,
)

WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"

STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {"duration": "1s"}}, {"setWeight": 50}]
TAP = "ferry-test-tap"
"""Name of the extra Trigger (no filter) that copies every event to the test's recorder."""


# -- helpers ---------------------------------------------------------------------------------


class EventTap:
    """A CloudEvent subscriber over HTTP that keeps every event it is sent (a Trigger with no
    filter pointed at it sees everything the broker routes)."""

    def __init__(self) -> None:
        self.events: list[CloudEvent] = []
        self._lock = threading.Lock()
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self._app, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/"

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        event = events.from_http(dict(request.headers), request.get_data())
        with self._lock:
            self.events.append(event)
        return Response(status=202)(environ, start_response)

    def by_id(self) -> dict[str, CloudEvent]:
        with self._lock:
            return {event.get_id(): event for event in self.events}

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def with_tap(url: str) -> Any:
    def edit(triggers: list[Trigger]) -> list[Trigger]:
        tap = {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Trigger",
            "metadata": {"name": TAP, "namespace": "ferry-system"},
            "spec": {"broker": "ferry", "subscriber": {"uri": url}},
        }
        return [*triggers, tap]

    return edit


def doubled(triggers: list[Trigger]) -> list[Trigger]:
    """Every Trigger twice (the copy under another name): each event is delivered twice."""
    copies = []
    for trigger in triggers:
        copy = {**trigger, "metadata": {**trigger["metadata"]}}
        copy["metadata"]["name"] += "-again"
        copies.append(copy)
    return [*triggers, *copies]


def without(*types: Type) -> Any:
    def edit(triggers: list[Trigger]) -> list[Trigger]:
        return [t for t in triggers if t["spec"]["filter"]["attributes"]["type"] not in types]

    return edit


def demo_of(runtime: Runtime) -> Demo:
    assert runtime.sim is not None
    return Demo(runtime, Kube(runtime.sim.api_client()))


def settle(runtime: Runtime) -> None:
    assert runtime.broker is not None
    assert runtime.broker.wait_idle(timeout=15.0), "the broker did not become idle"


def transitions(history: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What each history entry says happened: the event, who handled it, and the stage, step,
    weight and revision it led to (not its time, event id or wording: the note may say how the
    state was found, e.g. whether the primary was "created" or "found" by a concurrent event)."""
    keys = ("event", "function", "from", "to", "step", "weight", "revision")
    return [tuple(entry[k] for k in keys) for entry in history]


def assert_one_entry_per_event(history: list[dict[str, Any]]) -> None:
    ids = [entry["id"] for entry in history]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    assert not repeated, f"events recorded more than once: {repeated}"


def promote(podinfo: Demo, image: str = "podinfo:2") -> str:
    """Create the demo objects, wait until Healthy, change the image, wait for the promotion;
    returns the new revision."""
    podinfo.create(steps=STEPS)
    podinfo.wait(Stage.HEALTHY)
    revision = podinfo.set_image(image)
    podinfo.wait(Stage.HEALTHY, stable_revision=revision)
    return revision


def post(runtime: Runtime, url: str, event: CloudEvent) -> requests.Response:
    """POST to a function's ``url`` as the Broker would, with a token for its audience."""
    headers, body = events.to_http(event)
    function = url.rstrip("/").rsplit("/", 1)[-1].removeprefix(functions.SERVICE_PREFIX)
    headers["Authorization"] = f"Bearer {runtime.token(runtime.audience(function))}"
    return requests.post(url, data=body, headers=headers, timeout=10)


def post_until_done(runtime: Runtime, url: str, event: CloudEvent) -> requests.Response:
    """POST as the broker would: again while the answer says "transient, retry"."""
    for _ in range(20):
        response = post(runtime, url, event)
        if response.status_code != 503:
            return response
    raise AssertionError(f"{url} kept answering 503 to {event.get_type()}")


def reply_of(response: requests.Response) -> CloudEvent | None:
    if response.status_code != 200:
        return None
    return events.from_http(dict(response.headers), response.content)


def concurrently(
    runtime: Runtime, url: str, event: CloudEvent, copies: int = 8
) -> list[requests.Response]:
    """POST ``copies`` copies of ``event`` to ``url`` at the same moment."""
    start = threading.Barrier(copies)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def send() -> None:
        start.wait()
        response = post_until_done(runtime, url, event)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == copies
    return answers


def objects(podinfo: Demo) -> dict[str, Any]:
    """What Ferry controls in Kubernetes: weight, scales, templates."""
    kube = podinfo.kube
    target = kube.deployment(demo.NAMESPACE, demo.NAME)
    primary = kube.deployment(demo.NAMESPACE, f"{demo.NAME}-primary")
    assert target is not None and primary is not None
    return {
        "weight": podinfo.weight(),
        "target": (target["spec"]["replicas"], target["metadata"]["generation"]),
        "primary": (
            primary["spec"]["replicas"],
            primary["metadata"]["generation"],
            primary["spec"]["template"]["spec"]["containers"][0]["image"],
        ),
    }


# -- a reference run -------------------------------------------------------------------------


@dataclass
class PromotedRun:
    """A promotion on the unmodified routing (plus a tap that sees every event)."""

    runtime: Runtime
    podinfo: Demo
    tap: EventTap
    history: list[dict[str, Any]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromotedRun]:
    tap = EventTap()
    manifests = edited_manifests(tmp_path_factory.mktemp("tap") / "knative", with_tap(tap.url))
    try:
        with Runtime(fast_options(manifests=manifests)) as runtime:
            podinfo = demo_of(runtime)
            promote(podinfo)
            settle(runtime)
            history = podinfo.history()
            assert_one_entry_per_event(history)
            yield PromotedRun(runtime, podinfo, tap, history)
    finally:
        tap.stop()


# -- the tests -------------------------------------------------------------------------------


def test_every_event_delivered_twice_changes_nothing(
    reference: PromotedRun, tmp_path: Path
) -> None:
    manifests = edited_manifests(tmp_path / "knative", doubled)
    with Runtime(fast_options(manifests=manifests)) as runtime:
        podinfo = demo_of(runtime)
        promote(podinfo)
        settle(runtime)
        assert runtime.broker is not None
        deliveries = runtime.broker.deliveries()
        history = podinfo.history()
    doubles = [r for r in deliveries if r.trigger.endswith("-again")]
    assert doubles and all(r.outcome in (Outcome.DELIVERED, Outcome.REPLIED) for r in doubles)
    originals = {(r.event_id, r.trigger) for r in deliveries if not r.trigger.endswith("-again")}
    assert {(r.event_id, r.trigger.removesuffix("-again")) for r in doubles} == originals
    assert_one_entry_per_event(history)
    assert transitions(history) == transitions(reference.history)


def replay_all(runtime: Runtime, tap: EventTap, seeds: tuple[int, ...] = (1, 2)) -> set[str]:
    """Every event the broker delivered (as the tap saw it), delivered again to the same
    function in a shuffled order, once per seed, each reply published as it would be; the
    types replayed."""
    assert runtime.broker is not None
    settle(runtime)
    captured = tap.by_id()
    deliveries = [r for r in runtime.broker.deliveries() if not r.trigger.endswith(TAP)]
    replays = sorted({(r.event_id, r.subscriber) for r in deliveries})
    missing = [event_id for event_id, _ in replays if event_id not in captured]
    assert not missing, f"the tap did not see {missing}"
    for seed in seeds:
        order = list(replays)
        random.Random(seed).shuffle(order)
        for event_id, subscriber in order:
            response = post_until_done(runtime, subscriber, captured[event_id])
            assert response.status_code in (200, 202), (event_id, response.text)
            reply = reply_of(response)
            if reply is not None:  # a reply goes back into the broker, as it would
                runtime.broker.publish(reply)
        settle(runtime)
    return {r.event_type for r in deliveries}


def test_replaying_every_event_in_any_order_changes_nothing(reference: PromotedRun) -> None:
    runtime, podinfo = reference.runtime, reference.podinfo
    assert runtime.broker is not None and runtime.store is not None
    settle(runtime)
    before = (runtime.store.load(REF), podinfo.history(), objects(podinfo))
    status_before = podinfo.kube.rollout(REF.namespace, REF.name)["status"]  # type: ignore[index]
    replayed = replay_all(runtime, reference.tap)
    assert replayed >= {
        Type.RESOURCE_UPDATED,
        Type.REVISION_DETECTED,
        Type.CANARY_SCALED,
        Type.STEP_STARTED,
        Type.STEP_COMPLETED,
        Type.PAUSE_EXPIRED,
        Type.PROMOTION_STARTED,
        Type.PRIMARY_UPDATED,
    }
    after = (runtime.store.load(REF), podinfo.history(), objects(podinfo))
    assert after == before
    assert podinfo.kube.rollout(REF.namespace, REF.name)["status"] == status_before  # type: ignore[index]


def test_one_event_handled_concurrently_has_one_effect(tmp_path: Path) -> None:
    # Nobody receives step.started or promotion.started: the test delivers them itself.
    manifests = edited_manifests(
        tmp_path / "knative", without(Type.STEP_STARTED, Type.PROMOTION_STARTED)
    )
    with Runtime(fast_options(manifests=manifests)) as runtime:
        podinfo = demo_of(runtime)
        podinfo.create(steps=[{"setWeight": 20}])
        podinfo.wait(Stage.HEALTHY)
        revision = podinfo.set_image("podinfo:2")
        state = podinfo.wait(Stage.STEPPING, step=0, canary_revision=revision)
        assert runtime.broker is not None

        # step.started for step 0, as advance sent it (same id: same fact), 8 times at once
        started = events.new(
            Type.STEP_STARTED, REF, revision=revision, attempt=state.attempt, step=0
        )
        answers = concurrently(runtime, runtime.function_url("step"), started)
        assert {a.status_code for a in answers} <= {200, 202}
        replies = [reply for reply in map(reply_of, answers) if reply is not None]
        assert replies and {r.get_type() for r in replies} == {Type.STEP_COMPLETED}
        assert len({r.get_id() for r in replies}) == 1
        entries = [e for e in podinfo.history() if e["id"] == started.get_id()]
        assert len(entries) == 1 and entries[0]["weight"] == 20
        assert podinfo.weight() == 20
        for reply in replies:  # every copy of the reply goes on: dedupe downstream too
            runtime.broker.publish(reply)

        state = podinfo.wait(Stage.STEPPING, step=1, canary_revision=revision)
        before = objects(podinfo)
        promotion = events.new(
            Type.PROMOTION_STARTED, REF, revision=revision, attempt=state.attempt
        )
        answers = concurrently(runtime, runtime.function_url("promote"), promotion)
        assert {a.status_code for a in answers} <= {200, 202}
        entries = [e for e in podinfo.history() if e["id"] == promotion.get_id()]
        assert len(entries) == 1 and entries[0]["to"] == Stage.PROMOTING
        after = objects(podinfo)
        assert after["primary"][1] == before["primary"][1] + 1, "the primary was written once"
        assert after["primary"][2] == "podinfo:2"
        for reply in filter(None, map(reply_of, answers)):
            runtime.broker.publish(reply)

        podinfo.wait(Stage.HEALTHY, stable_revision=revision)
        settle(runtime)
        assert_one_entry_per_event(podinfo.history())


def test_a_crash_after_the_commit_is_healed_by_redelivery(
    reference: PromotedRun, runtime: Runtime, podinfo: Demo
) -> None:
    assert runtime.store is not None and runtime.broker is not None
    podinfo.create(steps=STEPS)
    podinfo.wait(Stage.HEALTHY)
    settle(runtime)
    for name in functions.ROUTES:
        runtime.faults.arm(name, 1, when="after")
    with Recorder(podinfo.kube, "networking.k8s.io/v1", "ingresses", "podinfo-canary") as canary:
        revision = podinfo.set_image("podinfo:2")
        podinfo.wait(Stage.HEALTHY, stable_revision=revision, timeout=30)
        settle(runtime)
    assert transitions(podinfo.history()) == transitions(reference.history)
    weights = distinct([int(v["metadata"]["annotations"][WEIGHT]) for v in canary.versions()])
    assert weights == [0, 20, 50, 0]
    for name in ("start", "advance", "step", "promote", "finalize"):
        assert runtime.faults.left(name, when="after") == 0, f"{name} never crashed"


def test_an_event_of_a_rollout_that_moved_on_gets_no_reply(
    reference: PromotedRun,
) -> None:
    runtime = reference.runtime
    settle(runtime)
    captured = reference.tap.by_id()
    scaled = next(e for e in captured.values() if e.get_type() == Type.CANARY_SCALED)
    response = post_until_done(runtime, runtime.function_url("advance"), scaled)
    assert response.status_code == 202 and reply_of(response) is None


def test_a_crash_between_effects_and_commit_is_healed_by_redelivery(
    reference: PromotedRun, runtime: Runtime, podinfo: Demo
) -> None:
    assert runtime.store is not None and runtime.broker is not None
    podinfo.create(steps=STEPS)
    podinfo.wait(Stage.HEALTHY)
    settle(runtime)
    for name in functions.ROUTES:
        runtime.faults.arm(name, 1)
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.HEALTHY, stable_revision=revision)
    settle(runtime)

    history = podinfo.history()
    assert_one_entry_per_event(history)
    assert transitions(history) == transitions(reference.history)
    # The functions that commit during a promotion crashed once each (their fault was taken)
    # and their event was delivered again until it succeeded.
    committing = {"start", "advance", "step", "promote", "finalize"}
    for name in committing:
        assert runtime.faults.left(name) == 0, f"{name} never crashed"
        url = runtime.function_url(name)
        retried = [
            r
            for r in runtime.broker.deliveries()
            if r.subscriber == url and r.attempts > 1 and 200 <= r.status < 300
        ]
        assert retried, f"no delivery to {name} succeeded after a failed attempt"
