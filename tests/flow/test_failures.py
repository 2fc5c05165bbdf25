"""Canaries that go wrong, end to end through the broker and the HTTP functions.

Covered: a canary that never becomes ready is aborted at its progress deadline (phase Degraded
with reason ProgressDeadlineExceeded, no traffic, canary scaled down, primary unchanged, a
Warning Event) and a good image afterwards is promoted; a newer revision mid-rollout restarts
from step 0 with the newest template and the middle revision never reaches the primary; the
target reverted to the stable template mid-rollout goes straight back to Healthy; a spec the
CRD schema refuses is a 422 at the API, and one only Ferry refuses gets an InvalidSpec
condition while nothing else is touched, until the spec is fixed.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from local import demo
from shared import configs, models, workloads
from shared.kube import ApiError, Kube
from shared.state import Stage
from tests.flow.conftest import Demo, Recorder, distinct, eventually, settle

INGRESS_API = "networking.k8s.io/v1"
WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
LONG_PAUSE: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {"duration": "30s"}},
    {"setWeight": 50},
]
"""A pause long enough to act during it; a test that needs the rollout to finish shortens it."""


def _image(deployment: dict[str, Any] | None) -> str:
    assert deployment is not None
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def _primary(kube: Kube) -> dict[str, Any] | None:
    return kube.deployment(demo.NAMESPACE, f"{demo.NAME}-primary")


def _target(kube: Kube) -> dict[str, Any]:
    target = kube.deployment(demo.NAMESPACE, demo.NAME)
    assert target is not None
    return target


def _status(kube: Kube) -> dict[str, Any]:
    return dict((kube.rollout(demo.NAMESPACE, demo.NAME) or {}).get("status") or {})


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or []}


def _weights(recorder: Recorder) -> list[int]:
    return distinct([int(v["metadata"]["annotations"][WEIGHT]) for v in recorder.versions()])


def test_a_canary_that_never_gets_ready_is_aborted_and_a_good_image_goes_on(
    podinfo: Demo, kube: Kube
) -> None:
    podinfo.create(
        # Argo's semantics, stated so they do not depend on defaults: the deadline aborts (not
        # only reports), and the aborted canary is scaled down soon (the default waits 30 s)
        strategy={"canary": {"steps": [{"setWeight": 50}], "abortScaleDownDelaySeconds": 1}},
        progressDeadlineSeconds=2,
        progressDeadlineAbort=True,
    )
    stable = podinfo.wait(Stage.HEALTHY).stable_revision
    with Recorder(kube, INGRESS_API, "ingresses", f"{demo.NAME}-canary") as ingress:
        bad = podinfo.set_image("podinfo:2-crash")  # the simulator's Pods never become Ready
        aborted = podinfo.wait(Stage.ABORTED, canary_revision=bad)
        assert aborted.reason == "ProgressDeadlineExceeded"
        assert aborted.weight == 0 and aborted.stable_revision == stable
        eventually(lambda: _target(kube)["spec"]["replicas"] == 0, what="the canary scaled down")
        status = eventually(
            lambda: (s := _status(kube)).get("phase") == "Degraded" and s, what="Degraded"
        )
    reasons = {c.get("reason") for c in status["conditions"]}
    assert "ProgressDeadlineExceeded" in reasons
    assert _conditions(status)["Progressing"]["status"] == "False"
    assert status["canaryWeight"] == 0 and status["stableRevision"] == stable
    assert _weights(ingress) == [0]  # the broken canary never got traffic
    assert podinfo.weight() == 0
    primary = _primary(kube)
    assert _image(primary) == "podinfo:1"
    assert workloads.primary_revision(primary) == stable
    warnings = [
        e
        for e in kube.list_of("v1", "events", demo.NAMESPACE)
        if e["involvedObject"].get("kind") == models.KIND
        and e["involvedObject"].get("name") == demo.NAME
        and e["type"] == "Warning"
        and e["reason"] == "ProgressDeadlineExceeded"
    ]
    assert len(warnings) == 1 and bad in warnings[0]["message"]

    # a good image starts a fresh rollout (a roomy deadline: readiness speed is not tested)
    kube.merge_patch(
        models.API_VERSION,
        models.PLURAL,
        demo.NAMESPACE,
        demo.NAME,
        {"spec": {"progressDeadlineSeconds": 60}},
    )
    podinfo.wait(Stage.ABORTED, generation=2)
    good = podinfo.set_image("podinfo:3")
    done = podinfo.wait(Stage.HEALTHY, stable_revision=good)
    assert done.attempt == aborted.attempt + 1 and done.weight == 0
    assert _image(_primary(kube)) == "podinfo:3"
    assert _target(kube)["spec"]["replicas"] == 0
    eventually(lambda: _status(kube).get("phase") == "Healthy", what="the status Healthy")
    assert "ProgressDeadlineExceeded" not in {c.get("reason") for c in _status(kube)["conditions"]}


def test_a_newer_revision_mid_rollout_restarts_from_the_first_step(
    podinfo: Demo, kube: Kube
) -> None:
    podinfo.create(steps=LONG_PAUSE)
    first = podinfo.wait(Stage.HEALTHY).stable_revision
    with (
        Recorder(kube, INGRESS_API, "ingresses", f"{demo.NAME}-canary") as ingress,
        Recorder(kube, "apps/v1", "deployments", f"{demo.NAME}-primary") as primary,
    ):
        middle = podinfo.set_image("podinfo:2")
        paused = podinfo.wait(Stage.PAUSED, canary_revision=middle, step=1)
        assert podinfo.weight() == 20
        # shorten the pause for the attempts to come (the running one keeps its 30 s)
        steps = copy.deepcopy(LONG_PAUSE)
        steps[1] = {"pause": {"duration": "1s"}}
        kube.merge_patch(
            models.API_VERSION,
            models.PLURAL,
            demo.NAMESPACE,
            demo.NAME,
            {"spec": {"strategy": {"canary": {"steps": steps}}}},
        )
        podinfo.wait(Stage.PAUSED, generation=2, step=1)

        newest = podinfo.set_image("podinfo:3")
        done = podinfo.wait(Stage.HEALTHY, stable_revision=newest)
        eventually(lambda: ingress.versions()[-1]["metadata"]["annotations"][WEIGHT] == "0")
        settle(podinfo.runtime)

    assert done.attempt == paused.attempt + 1  # one restart, so one new attempt
    assert _image(_primary(kube)) == "podinfo:3"
    # traffic went back to the primary at the restart, then every step again from the first
    assert _weights(ingress) == [0, 20, 0, 20, 50, 0]
    # the middle revision never reached the primary: it went straight from first to newest
    assert distinct([workloads.primary_revision(v) for v in primary.versions()]) == [
        first,
        newest,
    ]
    history = podinfo.history()
    restart = next(i for i, e in enumerate(history) if e["revision"] == newest)
    assert "restarted: replaces " + middle in history[restart]["note"]
    assert (history[restart]["from"], history[restart]["to"]) == ("paused", "scaling")
    assert history[restart]["step"] == 0 and history[restart]["weight"] == 0
    assert all(e["revision"] in (newest, "") for e in history[restart:])
    assert not any(e["to"] == "promoting" and e["revision"] == middle for e in history)


def test_reverting_the_target_mid_rollout_goes_back_to_healthy_at_once(
    podinfo: Demo, kube: Kube
) -> None:
    podinfo.create(steps=LONG_PAUSE)
    stable = podinfo.wait(Stage.HEALTHY).stable_revision
    template = copy.deepcopy(_target(kube)["spec"]["template"])
    canary = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, canary_revision=canary, step=1)
    assert podinfo.weight() == 20 and _target(kube)["spec"]["replicas"] == 2
    entries = len(podinfo.history())

    kube.merge_patch(
        "apps/v1", "deployments", demo.NAMESPACE, demo.NAME, {"spec": {"template": template}}
    )
    assert configs.revision(kube, _target(kube), None) == stable
    state = podinfo.wait(Stage.HEALTHY, reason="RolledBack")
    assert state.stable_revision == stable and state.canary_revision == ""
    assert state.weight == 0
    assert podinfo.weight() == 0
    assert _target(kube)["spec"]["replicas"] == 0
    assert _image(_primary(kube)) == "podinfo:1"
    # at once: the very next transition after the pause is the rollback, nothing in between
    after = podinfo.history()[entries:]
    assert [(e["from"], e["to"]) for e in after] == [("paused", "healthy")], after
    status = eventually(lambda: (s := _status(kube)).get("phase") == "Healthy" and s)
    assert _conditions(status)["Progressing"]["reason"] == "RolledBack"
    assert status["canaryWeight"] == 0 and status["stableRevision"] == stable


def test_the_api_refuses_what_the_crd_schema_forbids(podinfo: Demo, kube: Kube) -> None:
    with pytest.raises(ApiError) as refused:
        kube.create(demo.rollout([{"setWeight": 150}]))
    assert refused.value.status == 422
    assert "setWeight" in str(refused.value)
    assert kube.rollout(demo.NAMESPACE, demo.NAME) is None


def test_a_spec_only_ferry_refuses_touches_nothing_until_it_is_fixed(
    podinfo: Demo, kube: Kube
) -> None:
    # port 70000 passes the CRD (targetPort is int-or-string without bounds), but a Service
    # with it would be refused by a real API server half-way through initialization
    service = {"name": demo.NAME, "port": 80, "targetPort": 70000}
    podinfo.create(steps=LONG_PAUSE, service=service)
    state = podinfo.wait(Stage.INVALID)
    assert "spec.service.targetPort" in state.message and "70000" in state.message
    status = eventually(lambda: (s := _status(kube)).get("phase") == "Degraded" and s)
    invalid = _conditions(status)["InvalidSpec"]
    assert invalid["status"] == "True" and "spec.service.targetPort" in invalid["message"]
    warnings = [
        e
        for e in kube.list_of("v1", "events", demo.NAMESPACE)
        if e["involvedObject"].get("name") == demo.NAME and e["reason"] == "InvalidSpec"
    ]
    assert [e["type"] for e in warnings] == ["Warning"]

    podinfo.runtime.tick()  # the reconcile tick leaves an invalid Rollout alone too
    settle(podinfo.runtime)
    assert _primary(kube) is None
    for name in (demo.NAME, f"{demo.NAME}-primary", f"{demo.NAME}-canary"):
        assert kube.get("v1", "services", demo.NAMESPACE, name) is None, name
    assert kube.get(INGRESS_API, "ingresses", demo.NAMESPACE, f"{demo.NAME}-canary") is None
    target = _target(kube)
    assert target["metadata"]["generation"] == 1 and target["spec"]["replicas"] == 2
    assert "ownerReferences" not in target["metadata"]
    rollout = kube.rollout(demo.NAMESPACE, demo.NAME)
    assert rollout is not None and not rollout["metadata"].get("finalizers")
    assert podinfo.state() == state  # nothing moved

    kube.merge_patch(
        models.API_VERSION,
        models.PLURAL,
        demo.NAMESPACE,
        demo.NAME,
        {"spec": {"service": {"targetPort": 9898}}},
    )
    healthy = podinfo.wait(Stage.HEALTHY)
    assert healthy.stable_revision == configs.revision(kube, _target(kube), None)
    assert _primary(kube) is not None and podinfo.weight() == 0
    service_obj = kube.get("v1", "services", demo.NAMESPACE, demo.NAME)
    assert service_obj is not None and service_obj["spec"]["ports"][0]["targetPort"] == 9898
    status = eventually(lambda: (s := _status(kube)).get("phase") == "Healthy" and s)
    assert "InvalidSpec" not in _conditions(status)
