"""No traffic decision computed from an old state lands after a newer one was committed.

Covered, over many trials on the full local runtime: duplicate deliveries of a ``step.started``
that sets a weight, sent concurrently with an abort (a person's command, announced twice), in
every interleaving the machine produces. Once things settle, the canary Ingress always says the
weight the committed state says (0, aborted), and — read from watches on the canary Ingress and
the canary's Endpoints, merged in the API server's order — the canary never had a weight above 0
while it had no ready endpoint. The ``step.started`` events are delivered by the test only (its
Trigger is left out of the manifests), so each trial holds the rollout at that step until the
race starts.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from local import demo
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
    edited_manifests,
    fast_options,
    post_to,
    settle,
)

TRIALS = 12
DUPLICATES = 6
WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
STEPS: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]


def _without_step_trigger(triggers: list[Trigger]) -> list[Trigger]:
    return [t for t in triggers if t["spec"]["filter"]["attributes"]["type"] != Type.STEP_STARTED]


@pytest.fixture
def held(tmp_path: Path) -> Any:
    manifests = edited_manifests(tmp_path / "knative", _without_step_trigger)
    with Runtime(fast_options(manifests=manifests)) as runtime:
        yield runtime


def _post(runtime: Runtime, function: str, event: events.CloudEvent, barrier: Any) -> None:
    barrier.wait()
    post_to(runtime, function, event)


def _weights_and_endpoints(ingress: Recorder, endpoints: Recorder) -> list[tuple[int, int]]:
    """(weight, ready endpoints) after every write to either object, in resourceVersion order."""
    changes = sorted(
        [(int(v["metadata"]["resourceVersion"]), "i", v) for v in ingress.versions()]
        + [(int(v["metadata"]["resourceVersion"]), "e", v) for v in endpoints.versions()],
        key=lambda change: change[0],
    )
    weight, ready, seen = 0, 0, []
    for _, kind, obj in changes:
        if kind == "i":
            weight = 0 if obj.get("deleted") else int(obj["metadata"]["annotations"][WEIGHT])
        else:
            subsets = [] if obj.get("deleted") else obj.get("subsets") or []
            ready = sum(len(s.get("addresses") or []) for s in subsets)
        seen.append((weight, ready))
    return seen


def test_duplicates_racing_an_abort_never_leave_a_stale_weight(held: Runtime) -> None:
    assert held.sim is not None
    kube = Kube(held.sim.api_client())
    podinfo = Demo(held, kube)
    podinfo.create(strategy={"canary": {"steps": STEPS, "abortScaleDownDelaySeconds": 1}})
    podinfo.wait(Stage.HEALTHY)
    disagreements = []
    with (
        Recorder(kube, "networking.k8s.io/v1", "ingresses", f"{demo.NAME}-canary") as ingress,
        Recorder(kube, "v1", "endpoints", f"{demo.NAME}-canary") as endpoints,
    ):
        podinfo.set_image("podinfo:2")
        for trial in range(TRIALS):
            state = podinfo.wait(Stage.STEPPING, step=0)
            started = events.new(
                Type.STEP_STARTED,
                REF,
                revision=state.canary_revision,
                attempt=state.attempt,
                step=0,
            )
            abort = podinfo.command("abort")
            barrier = threading.Barrier(DUPLICATES + 2)
            posts = [("step", started)] * DUPLICATES + [("abort", abort)] * 2
            threads = [threading.Thread(target=_post, args=(held, *p, barrier)) for p in posts]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            aborted = podinfo.wait(Stage.ABORTED)
            settle(held)
            if podinfo.weight() != aborted.weight:
                disagreements.append((trial, podinfo.weight(), aborted.weight))
            podinfo.wait(Stage.ABORTED, scaled_down=True, timeout=10)
            if trial + 1 < TRIALS:
                podinfo.command("retry")
        settle(held)
    blackholes = [(w, r) for w, r in _weights_and_endpoints(ingress, endpoints) if w > 0 == r]
    assert disagreements == []
    assert blackholes == []
