"""A Rollout's life around the canary flow: deletion, kubectl, and the reconcile tick.

Covered: deleting a Rollout hands the target back (scaled up and ready before the apex Service
points at it, and only then are the primary, the ``-primary``/``-canary`` Services and the
canary Ingress removed; the finalizer goes, the state goes, the history stays); real
``kubectl get rollouts`` / ``get ro`` show the printer columns of a Healthy rollout (and of a
paused one: the columns follow the status); the tick
puts back a target scaled by hand at rest and a canary weight changed by hand during a pause
when the events reporting that drift are lost;
a pause timer lost from RQ is replaced by the tick once the pause is over.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rq.job import Job

from local import demo
from local.runtime import Runtime
from shared import facts, models, timers, workloads
from shared.events import Type
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import (
    REF,
    Demo,
    Recorder,
    Trigger,
    edited_manifests,
    eventually,
    fast_options,
    settle,
)

DRIFT = "dev.ferry.drift.detected"

INGRESS_API = "networking.k8s.io/v1"
WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
LONG_PAUSE: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {"duration": "30s"}},
    {"setWeight": 50},
]


def _target(kube: Kube) -> dict[str, Any]:
    target = kube.deployment(demo.NAMESPACE, demo.NAME)
    assert target is not None
    return target


def _rv(obj: dict[str, Any]) -> int:
    """The simulator's resourceVersions are one global counter: they order writes across
    objects (a real API server's are opaque)."""
    return int(obj["metadata"]["resourceVersion"])


def test_deleting_the_rollout_hands_the_target_back(podinfo: Demo, kube: Kube) -> None:
    podinfo.create(steps=LONG_PAUSE)
    podinfo.wait(Stage.HEALTHY)
    history = podinfo.history()
    with (
        Recorder(kube, "apps/v1", "deployments", demo.NAME) as target,
        Recorder(kube, "v1", "services", demo.NAME) as apex,
        Recorder(kube, "apps/v1", "deployments", f"{demo.NAME}-primary") as primary,
    ):
        kube.delete(models.API_VERSION, models.PLURAL, demo.NAMESPACE, demo.NAME)
        eventually(lambda: kube.rollout(demo.NAMESPACE, demo.NAME) is None, what="Rollout gone")
        eventually(lambda: primary.versions()[-1].get("deleted"), what="the primary deleted")
        settle(podinfo.runtime)

    assert kube.deployment(demo.NAMESPACE, f"{demo.NAME}-primary") is None
    for name in (f"{demo.NAME}-primary", f"{demo.NAME}-canary"):
        assert kube.get("v1", "services", demo.NAMESPACE, name) is None, name
    assert kube.get(INGRESS_API, "ingresses", demo.NAMESPACE, f"{demo.NAME}-canary") is None
    assert kube.get(INGRESS_API, "ingresses", demo.NAMESPACE, demo.NAME) is not None  # Git's

    # the target serves again, with the primary's replicas, through the apex Service
    handed_back = _target(kube)
    assert handed_back["spec"]["replicas"] == 2 and workloads.is_ready(handed_back)
    service = kube.get("v1", "services", demo.NAMESPACE, demo.NAME)
    assert service is not None and service["spec"]["selector"] == {"app": "podinfo"}

    # in that order: target ready, then the Service switched, then the primary removed
    ready = next(
        v for v in target.versions() if v["spec"]["replicas"] == 2 and workloads.is_ready(v)
    )
    switched = next(v for v in apex.versions() if v["spec"]["selector"] == {"app": "podinfo"})
    removed = next(v for v in primary.versions() if v.get("deleted"))
    assert _rv(ready) < _rv(switched) < _rv(removed)

    # Redis: the state is gone (and off the tick's list), the history is kept
    assert not podinfo.state().exists
    assert REF not in set(podinfo.store.rollouts())
    kept = podinfo.history()
    assert kept[: len(history)] == history
    assert kept[-1]["to"] == "deleted" and kept[-1]["function"] == "cleanup"


def test_a_rollout_created_again_under_its_old_name_is_a_new_rollout(
    podinfo: Demo, kube: Kube
) -> None:
    """Its facts (same revision, same attempt) must not be taken for the old one's, which
    were processed: it initializes and promotes at once, and shows only its own history."""
    podinfo.create(steps=[{"setWeight": 50}])
    podinfo.wait(Stage.HEALTHY)
    first = podinfo.state()
    kube.delete(models.API_VERSION, models.PLURAL, demo.NAMESPACE, demo.NAME)
    eventually(lambda: kube.rollout(demo.NAMESPACE, demo.NAME) is None, what="Rollout gone")
    eventually(lambda: not podinfo.state().exists, what="the state dropped")
    settle(podinfo.runtime)

    kube.create(demo.rollout([{"setWeight": 50}]))
    again = podinfo.wait(Stage.HEALTHY, timeout=10)
    assert again.uid != first.uid and again.stable_revision == first.stable_revision
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.HEALTHY, stable_revision=revision, timeout=15)
    status = kube.rollout(demo.NAMESPACE, demo.NAME)["status"]  # type: ignore[index]
    shown = status["history"]
    assert shown and not any(entry.get("note", "").startswith("rollout deleted") for entry in shown)


def _kubectl(runtime: Runtime, *args: str) -> list[list[str]]:
    done = subprocess.run(
        ["kubectl", "--kubeconfig", runtime.kubeconfig, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [line.split() for line in done.stdout.splitlines()]


def test_kubectl_shows_the_printer_columns(podinfo: Demo, kube: Kube) -> None:
    podinfo.create(steps=LONG_PAUSE)
    podinfo.wait(Stage.HEALTHY)
    eventually(
        lambda: (
            ((kube.rollout(demo.NAMESPACE, demo.NAME) or {}).get("status") or {}).get("phase")
            == "Healthy"
        ),
        what="the status mirrored",
    )
    for resource in ("rollouts", "ro", "rollouts.ferry.dev"):
        table = _kubectl(podinfo.runtime, "get", resource)
        assert table[0] == ["NAME", "PHASE", "STEP", "WEIGHT", "AGE"], resource
        assert len(table) == 2, table
        assert table[1][:4] == ["podinfo", "Healthy", "0", "0"], table
        assert re.fullmatch(r"\d+s", table[1][4]), table
    # the columns follow the status (not constants): mid-rollout, paused at step 1 with 20 %
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, canary_revision=revision, step=1)
    eventually(
        lambda: _kubectl(podinfo.runtime, "get", "ro")[1][:4] == ["podinfo", "Paused", "1", "20"],
        what="kubectl showing the pause",
    )


@pytest.fixture
def drift_lost(tmp_path: Path) -> Iterator[Demo]:
    """The runtime without the Trigger of ``drift.detected``: the events that report drift are
    lost, so only the tick is left to heal it."""

    def drop(triggers: list[Trigger]) -> list[Trigger]:
        return [t for t in triggers if t["spec"]["filter"]["attributes"]["type"] != DRIFT]

    manifests = edited_manifests(tmp_path / "knative", drop)
    with Runtime(fast_options(manifests=manifests)) as runtime:
        assert runtime.sim is not None
        yield Demo(runtime, Kube(runtime.sim.api_client()))


def test_the_tick_puts_back_what_was_changed_by_hand(drift_lost: Demo) -> None:
    podinfo, kube = drift_lost, drift_lost.kube
    podinfo.create(steps=LONG_PAUSE)
    podinfo.wait(Stage.HEALTHY)
    settle(podinfo.runtime)  # a delivery still in flight may scale the target itself

    # at rest: the target scaled up by hand goes back to 0
    kube.merge_patch(
        "apps/v1", "deployments", demo.NAMESPACE, demo.NAME, {"spec": {"replicas": 3}}, sub="scale"
    )
    settle(podinfo.runtime)
    assert _target(kube)["spec"]["replicas"] == 3  # no event heals it; the tick does
    podinfo.runtime.tick()
    eventually(lambda: _target(kube)["spec"]["replicas"] == 0, what="the target back at 0")
    assert podinfo.state().stage == Stage.HEALTHY

    # during a pause: a canary weight set by hand goes back to the state's
    revision = podinfo.set_image("podinfo:2")
    paused = podinfo.wait(Stage.PAUSED, canary_revision=revision, step=1)
    assert paused.weight == 20 and podinfo.weight() == 20
    kube.merge_patch(
        INGRESS_API,
        "ingresses",
        demo.NAMESPACE,
        f"{demo.NAME}-canary",
        {"metadata": {"annotations": {WEIGHT: "90"}}},
    )
    settle(podinfo.runtime)
    assert podinfo.weight() == 90
    podinfo.runtime.tick()
    eventually(lambda: podinfo.weight() == 20, what="the canary weight back at 20")
    settle(podinfo.runtime)
    after = podinfo.state()
    assert after.stage == Stage.PAUSED and after.step == 1 and after.weight == 20
    assert after.pause_until == paused.pause_until  # healing is not a transition
    assert _target(kube)["spec"]["replicas"] == 2


def test_the_tick_replaces_a_lost_pause_timer(podinfo: Demo, kube: Kube) -> None:
    # 3 s: ample time to catch the pause and remove its timer before it fires
    podinfo.create(steps=[{"setWeight": 20}, {"pause": {"duration": "3s"}}, {"setWeight": 50}])
    podinfo.wait(Stage.HEALTHY)
    revision = podinfo.set_image("podinfo:2")
    paused = podinfo.wait(Stage.PAUSED, canary_revision=revision, step=1)
    assert podinfo.store is not None
    connection = podinfo.store.redis
    job_id = timers.timer_id(facts.of_attempt(paused, Type.PAUSE_EXPIRED, step=1))
    job = Job.fetch(job_id, connection=connection)
    assert job.get_status() == "scheduled"
    job.delete()
    assert not Job.exists(job_id, connection=connection)

    # the pause is over (and the RQ scheduler had time to look): nothing moved
    grace = paused.pause_until + 1.5
    while time.time() < grace:
        time.sleep(0.1)
    settle(podinfo.runtime)
    assert podinfo.state() == paused

    podinfo.runtime.tick()
    done = podinfo.wait(Stage.HEALTHY, stable_revision=revision)
    assert done.weight == 0
    expired = [e for e in podinfo.history() if e["event"] == "dev.ferry.pause.expired"]
    assert [(e["from"], e["to"], e["step"]) for e in expired] == [("paused", "stepping", 2)]
    image = (kube.deployment(demo.NAMESPACE, f"{demo.NAME}-primary") or {})["spec"]["template"]
    assert image["spec"]["containers"][0]["image"] == "podinfo:2"
