"""Blue/green (Argo Rollouts' ``strategy.blueGreen``) end to end, through kubectl and the API.

Translated from Argo Rollouts' blue/green example (``rollout-bluegreen`` with an active and a
preview Service and ``autoPromotionEnabled: false``) to Ferry's model: the Deployment is the
target, ``<target>-primary`` runs the stable revision. Without a traffic router the active
Service's selector is the switch; with one (nginx here) the weight goes 0 -> 100 in one write.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import functions
from local.runtime import Runtime
from local.sim.cluster import Simulator
from shared import models, routers
from shared.events import RolloutRef, Type
from shared.kube import Kube
from shared.state import RolloutState, Stage
from tests.flow import test_downtime as downtime
from tests.flow.conftest import (
    FAST,
    Check,
    Recorder,
    distinct,
    edited_manifests,
    eventually,
    fast_options,
    run_cli,
    settle,
)
from tests.flow.test_idempotency import (
    EventTap,
    assert_one_entry_per_event,
    doubled,
    replay_all,
    transitions,
    with_tap,
)

NS = "default"
NAME = "rollout-bluegreen"
ACTIVE = "rollout-bluegreen-active"
PREVIEW = "rollout-bluegreen-preview"
REF = RolloutRef(NS, NAME)


def manifests(blue_green: dict[str, Any], **spec: Any) -> str:
    """Argo's example, as a Deployment and a Ferry Rollout."""
    labels = {"app": NAME}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "rollouts-demo",
                            "image": "argoproj/rollouts-demo:blue",
                            "ports": [{"containerPort": 8080}],
                        }
                    ]
                },
            },
        },
    }
    rollout = {
        "apiVersion": models.API_VERSION,
        "kind": models.KIND,
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
            "service": {"port": 80, "targetPort": 8080},
            "strategy": {
                "blueGreen": {"activeService": ACTIVE, "previewService": PREVIEW, **blue_green}
            },
            **spec,
        },
    }
    return yaml.safe_dump_all([deployment, rollout])


def kubectl(runtime: Runtime, *args: str, stdin: str | None = None) -> str:
    return run_cli(runtime, "kubectl", "-n", NS, *args, stdin=stdin)


def set_image(runtime: Runtime, tag: str) -> None:
    """``kubectl set image`` of the example's container."""
    kubectl(
        runtime, "set", "image", f"deployment/{NAME}", f"rollouts-demo=argoproj/rollouts-demo:{tag}"
    )


def state(runtime: Runtime) -> RolloutState:
    assert runtime.store is not None
    return runtime.store.load(REF)


def wait(runtime: Runtime, stage: Stage, timeout: float = 20.0, **fields: Any) -> RolloutState:
    def reached() -> RolloutState | None:
        found = state(runtime)
        ok = found.stage == stage and all(getattr(found, k) == v for k, v in fields.items())
        return found if ok else None

    result: RolloutState = eventually(reached, timeout, f"stage {stage} {fields}")
    settle(runtime)
    return result


def selector(kube: Kube, service: str) -> dict[str, str]:
    found = kube.get("v1", "services", NS, service)
    assert found is not None, service
    return dict(found["spec"]["selector"])


def deployment(kube: Kube, name: str) -> dict[str, Any]:
    found = kube.deployment(NS, name)
    assert found is not None, name
    return found


def image(kube: Kube, name: str) -> str:
    return str(deployment(kube, name)["spec"]["template"]["spec"]["containers"][0]["image"])


def status(kube: Kube) -> dict[str, Any]:
    found = kube.rollout(NS, NAME)
    assert found is not None
    return dict(found.get("status") or {})


def ferry(runtime: Runtime, *args: str) -> str:
    """``kubectl ferry ARGS``, as a person would."""
    return run_cli(runtime, "kubectl", "ferry", "-n", NS, *args)


def promote(runtime: Runtime) -> None:
    ferry(runtime, "promote", NAME)


BLUE = {"app": f"{NAME}-primary"}
GREEN = {"app": NAME}


def test_argo_example_waits_for_a_promotion_then_switches_all_traffic_at_once(
    runtime: Runtime, kube: Kube
) -> None:
    kubectl(
        runtime,
        "apply",
        "-f",
        "-",
        stdin=manifests({"autoPromotionEnabled": False, "scaleDownDelaySeconds": 2}),
    )
    first = wait(runtime, Stage.HEALTHY)
    assert selector(kube, ACTIVE) == BLUE and selector(kube, PREVIEW) == GREEN
    assert deployment(kube, NAME)["spec"]["replicas"] == 0
    assert status(kube)["blueGreen"] == {
        "activeRevision": first.stable_revision,
        "previewRevision": first.stable_revision,
    }

    set_image(runtime, "green")
    paused = wait(runtime, Stage.PAUSED, step=0)
    green = paused.canary_revision
    assert deployment(kube, NAME)["spec"]["replicas"] == 2  # the preview runs at full size
    assert selector(kube, ACTIVE) == BLUE  # production still on blue
    shown = status(kube)
    assert shown["phase"] == "Paused" and shown["blueGreen"] == {
        "activeRevision": first.stable_revision,
        "previewRevision": green,
    }
    table = kubectl(runtime, "get", "rollouts", NAME, "-o", "wide").splitlines()
    assert table[0].split() == ["NAME", "PHASE", "STEP", "WEIGHT", "ACTIVE", "PREVIEW", "AGE"]
    assert table[1].split()[4:6] == [first.stable_revision, green]
    plain = kubectl(runtime, "get", "rollouts", NAME).splitlines()  # a canary has no such columns
    assert plain[0].split() == ["NAME", "PHASE", "STEP", "WEIGHT", "AGE"]
    assert "waiting for promotion" in paused.message
    view = ferry(runtime, "get", "rollout", NAME)
    assert f"Active:     {first.stable_revision} (Service {ACTIVE})" in view
    assert f"Preview:    {green} (Service {PREVIEW})" in view
    assert "▶  1. waiting for promotion (until promoted)" in view
    assert f"2. switch: {ACTIVE} sends all traffic to the new revision" in view
    assert "3. scale-down delay 2s (the previous revision kept warm)" in view

    promote(runtime)
    switched = wait(runtime, Stage.PAUSED, step=2, weight=100)  # the scale-down delay
    assert selector(kube, ACTIVE) == GREEN  # all of it, in one write
    assert image(kube, f"{NAME}-primary").endswith(":blue")  # blue kept warm
    assert status(kube)["blueGreen"]["activeRevision"] == green
    assert switched.stable_revision == first.stable_revision

    done = wait(runtime, Stage.HEALTHY, stable_revision=green, timeout=30)
    assert done.weight == 0 and selector(kube, ACTIVE) == BLUE  # the primary, now green
    assert image(kube, f"{NAME}-primary").endswith(":green")
    assert deployment(kube, NAME)["spec"]["replicas"] == 2  # kept while traffic moves back
    drained = wait(runtime, Stage.HEALTHY, scaled_down=True)  # scaleDownDelaySeconds later
    assert drained.stage_since == done.stage_since
    assert deployment(kube, NAME)["spec"]["replicas"] == 0
    notes = [e.get("note", "") for e in runtime.store.history(REF)]  # type: ignore[union-attr]
    assert any(f"switch: {ACTIVE} sends all traffic to {green}" in n for n in notes)


def _templates(kube: Kube, check: Check) -> None:
    for name in ("pre", "post"):
        metric = {
            "name": "ok",
            "count": 1,
            "interval": "1s",
            "successCondition": "result == 1",
            "provider": {"web": {"url": check.url, "jsonPath": "{$.ok}"}},
        }
        kube.create(
            {
                "apiVersion": models.API_VERSION,
                "kind": "AnalysisTemplate",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"metrics": [metric]},
            }
        )


def test_a_failed_post_promotion_analysis_switches_back_at_once(
    runtime: Runtime, kube: Kube, check: Check
) -> None:
    _templates(kube, check)
    spec = {
        "autoPromotionEnabled": False,
        "prePromotionAnalysis": {"templates": [{"templateName": "pre"}]},
        "postPromotionAnalysis": {"templates": [{"templateName": "post"}]},
        "scaleDownDelaySeconds": 60,
        "abortScaleDownDelaySeconds": 1,
    }
    kubectl(runtime, "apply", "-f", "-", stdin=manifests(spec))
    first = wait(runtime, Stage.HEALTHY)
    set_image(runtime, "red")
    wait(runtime, Stage.PAUSED, step=1)  # the pre-promotion analysis passed
    assert selector(kube, ACTIVE) == BLUE

    check.ok = False  # the new revision breaks under production traffic
    promote(runtime)
    aborted = wait(runtime, Stage.ABORTED)
    assert aborted.weight == 0 and selector(kube, ACTIVE) == BLUE  # back, in one write
    assert image(kube, f"{NAME}-primary").endswith(":blue")  # never touched
    assert aborted.stable_revision == first.stable_revision
    assert "post" in aborted.message or "analysis" in aborted.message.lower()
    eventually(lambda: deployment(kube, NAME)["spec"]["replicas"] == 0, what="preview scaled down")


def test_the_preview_runs_smaller_and_grows_before_nginx_switches_in_one_write(
    runtime: Runtime, kube: Kube
) -> None:
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": "bluegreen.local",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": ACTIVE, "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    }
    kube.create(ingress)
    tester = {"headerName": "X-Tester", "headerValue": {"exact": "yes"}}
    blue_green = {
        "previewReplicaCount": 1,
        "autoPromotionSeconds": 2,
        "scaleDownDelaySeconds": 0,
        "previewHeaderRoute": {"name": "testers", "match": [tester]},
    }
    docs = manifests(blue_green, trafficRouting={"nginx": {"stableIngress": NAME}})
    kubectl(runtime, "apply", "-f", "-", stdin=docs)
    wait(runtime, Stage.HEALTHY)
    weights: list[str] = []

    def canary_weight() -> str | None:
        found = kube.get("networking.k8s.io/v1", "ingresses", NS, f"{NAME}-canary")
        if found is None:
            return None
        value = found["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"]
        if not weights or weights[-1] != value:
            weights.append(value)
        return str(value)

    set_image(runtime, "green")
    paused = wait(runtime, Stage.PAUSED, step=1)
    assert deployment(kube, NAME)["spec"]["replicas"] == 1  # previewReplicaCount
    assert canary_weight() == "0"
    canary = kube.get("networking.k8s.io/v1", "ingresses", NS, f"{NAME}-canary")
    assert canary is not None
    annotations = canary["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary-by-header"] == "X-Tester"
    assert annotations["nginx.ingress.kubernetes.io/canary-by-header-value"] == "yes"
    eventually(lambda: canary_weight() == "100", timeout=20, what="the switch")
    assert deployment(kube, NAME)["spec"]["replicas"] == 2  # full size before the switch
    done = wait(runtime, Stage.HEALTHY, stable_revision=paused.canary_revision, timeout=30)
    eventually(lambda: canary_weight() == "0", what="back to the primary")
    assert weights == ["0", "100", "0"]
    canary = kube.get("networking.k8s.io/v1", "ingresses", NS, f"{NAME}-canary")
    assert canary is not None
    assert "nginx.ingress.kubernetes.io/canary-by-header" not in canary["metadata"]["annotations"]
    assert done.weight == 0


def test_a_preview_route_needs_a_router_that_routes_by_header() -> None:
    rollout = {
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "targetRef": {"name": "web"},
            "service": {"name": "web", "port": 80},
            "strategy": {
                "blueGreen": {
                    "previewHeaderRoute": {
                        "name": "testers",
                        "match": [{"headerName": "X-Tester", "headerValue": {"exact": "yes"}}],
                    }
                }
            },
        },
    }
    spec = models.parse(rollout)
    assert spec.step_label(0) == "preview route" and spec.blue_green is not None
    assert spec.blue_green.switch_step == 1
    (problem,) = routers.validate(spec.router, spec.routing, spec.steps, spec.step_where)
    assert problem.startswith(
        "spec.strategy.blueGreen.previewHeaderRoute: blue/green without spec.trafficRouting "
        "cannot route by header"
    )


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        (
            {"canary": {"steps": []}, "blueGreen": {}},
            "must have one of canary and blueGreen",
        ),
        ({"blueGreen": {"activeServce": "x"}}, "blueGreen.activeServce is not a field"),
        (
            {"blueGreen": {"activeService": "web", "previewService": "web"}},
            "previewService must not be the active Service",
        ),
        (
            {"blueGreen": {"activeService": "web", "previewService": "web-primary"}},
            "or web-primary (Ferry's Service of the stable revision)",
        ),
    ],
)
def test_an_invalid_blue_green_spec_says_what_is_wrong(
    strategy: dict[str, Any], message: str
) -> None:
    rollout = {
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "targetRef": {"name": "web"},
            "service": {"name": "web", "port": 80},
            "strategy": strategy,
        },
    }
    with pytest.raises(models.InvalidSpec) as raised:
        models.parse(rollout)
    assert message in str(raised.value)


# -- the same guarantees as the canary ----------------------------------------------------------

AUTO = {"autoPromotionSeconds": 1, "scaleDownDelaySeconds": 1}


def _promoted(runtime: Runtime, kube: Kube) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Argo's example with auto promotion: created, then a new image promoted. The history,
    and every selector the active Service had along the way."""
    for doc in yaml.safe_load_all(manifests(AUTO)):
        kube.create(doc)
    first = wait(runtime, Stage.HEALTHY)
    with Recorder(kube, "v1", "services", ACTIVE, namespace=NS) as active:
        set_image(runtime, "green")
        eventually(lambda: state(runtime).stable_revision != first.stable_revision, timeout=30)
        wait(runtime, Stage.HEALTHY, timeout=30, scaled_down=True)
    assert runtime.store is not None
    selectors = [v["spec"]["selector"] for v in active.versions() if "spec" in v]
    return runtime.store.history(REF), distinct(selectors)


@dataclass
class Reference:
    """A blue/green promotion (with a tap that sees every event), kept running."""

    runtime: Runtime
    kube: Kube
    tap: EventTap
    transitions: list[tuple[Any, ...]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    tap = EventTap()
    manifests_dir = edited_manifests(tmp_path_factory.mktemp("tap") / "knative", with_tap(tap.url))
    try:
        with Runtime(fast_options(manifests=manifests_dir)) as runtime:
            assert runtime.sim is not None
            kube = Kube(runtime.sim.api_client())
            history, selectors = _promoted(runtime, kube)
            assert selectors == [BLUE, GREEN, BLUE]
            yield Reference(runtime, kube, tap, transitions(history))
    finally:
        tap.stop()


def _objects(kube: Kube) -> tuple[Any, ...]:
    """What Ferry controls: the active Service's selector, each Deployment's size and
    template."""
    target, primary = deployment(kube, NAME), deployment(kube, f"{NAME}-primary")
    return (
        selector(kube, ACTIVE),
        target["spec"]["replicas"],
        target["metadata"]["generation"],
        primary["metadata"]["generation"],
        image(kube, f"{NAME}-primary"),
    )


def test_replaying_every_event_in_any_order_changes_nothing(reference: Reference) -> None:
    runtime, kube = reference.runtime, reference.kube
    assert runtime.store is not None
    settle(runtime)
    before = (runtime.store.load(REF), runtime.store.history(REF), _objects(kube))
    assert replay_all(runtime, reference.tap) >= {
        Type.REVISION_DETECTED,
        Type.CANARY_SCALED,
        Type.STEP_STARTED,
        Type.STEP_COMPLETED,
        Type.PAUSE_EXPIRED,
        Type.PROMOTION_STARTED,
        Type.PRIMARY_UPDATED,
        Type.SCALEDOWN_ELAPSED,
    }
    assert (runtime.store.load(REF), runtime.store.history(REF), _objects(kube)) == before


def test_every_event_delivered_twice_changes_nothing(reference: Reference, tmp_path: Path) -> None:
    manifests_dir = edited_manifests(tmp_path / "knative", doubled)
    with Runtime(fast_options(manifests=manifests_dir)) as runtime:
        assert runtime.sim is not None
        history, selectors = _promoted(runtime, Kube(runtime.sim.api_client()))
    assert_one_entry_per_event(history)
    assert transitions(history) == reference.transitions and selectors == [BLUE, GREEN, BLUE]


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_around_every_commit_is_healed_by_redelivery(
    reference: Reference, runtime: Runtime, kube: Kube, when: str
) -> None:
    for name in functions.ROUTES:
        runtime.faults.arm(name, 1, when=when)
    history, selectors = _promoted(runtime, kube)
    assert selectors == [BLUE, GREEN, BLUE]
    assert_one_entry_per_event(history)
    assert transitions(history) == reference.transitions
    for name in ("initialize", "start", "advance", "step", "promote", "finalize"):
        assert runtime.faults.left(name, when=when) == 0, f"{name} never crashed"


def test_deletion_mid_switch_hands_the_target_back(runtime: Runtime, kube: Kube) -> None:
    for doc in yaml.safe_load_all(manifests({"autoPromotionEnabled": False})):
        kube.create(doc)
    wait(runtime, Stage.HEALTHY)
    set_image(runtime, "green")
    wait(runtime, Stage.PAUSED, step=0)
    promote(runtime)
    wait(runtime, Stage.STEPPING, weight=100)
    kubectl(runtime, "delete", "rollout", NAME)
    eventually(lambda: kube.rollout(NS, NAME) is None, timeout=30, what="the Rollout gone")
    assert selector(kube, ACTIVE) == GREEN  # the active Service reaches the target's Pods
    assert deployment(kube, NAME)["spec"]["replicas"] == 2
    assert kube.deployment(NS, f"{NAME}-primary") is None
    assert selector(kube, PREVIEW) == GREEN  # a previewService named in the spec is the user's


def test_a_hand_edit_of_the_active_service_goes_back(runtime: Runtime, kube: Kube) -> None:
    for doc in yaml.safe_load_all(manifests(AUTO)):
        kube.create(doc)
    wait(runtime, Stage.HEALTHY)
    kube.merge_patch("v1", "services", NS, ACTIVE, {"spec": {"selector": GREEN}})
    eventually(lambda: selector(kube, ACTIVE) == BLUE, what="the active Service healed")


def test_ferry_down_after_the_switch_resumes_and_promotes(tmp_path: Path) -> None:
    """Ferry stops while all traffic is on the new revision (the scale-down delay); the delay
    ends while it is down. Back up, it goes on from there: one switch, then the promotion."""
    with Simulator(settings=FAST) as cluster:
        options = downtime.options_for(cluster, tmp_path)
        kube = Kube(cluster.api_client())
        delay = {"autoPromotionSeconds": 1, "scaleDownDelaySeconds": 2}
        with Recorder(kube, "v1", "services", ACTIVE, namespace=NS) as active:
            with Runtime(options) as first:
                for doc in yaml.safe_load_all(manifests(delay)):
                    kube.create(doc)
                wait(first, Stage.HEALTHY)
                set_image(first, "green")
                switched = wait(first, Stage.PAUSED, step=2, weight=100, timeout=30)
                assert selector(kube, ACTIVE) == GREEN
            while time.time() <= switched.pause_until + 0.2:  # the delay ends while Ferry is down
                time.sleep(0.1)
            assert selector(kube, ACTIVE) == GREEN  # production stays where it was
            with Runtime(options) as second:
                done = wait(second, Stage.HEALTHY, timeout=downtime.RESUME_TIMEOUT)
                assert done.stable_revision == switched.canary_revision
                notes = [e.get("note", "") for e in second.store.history(REF)]  # type: ignore[union-attr]
                assert sum("sends all traffic to" in n for n in notes) == 1
            versions = [v["spec"]["selector"] for v in active.versions() if "spec" in v]
        assert distinct(versions) == [BLUE, GREEN, BLUE]


def test_auto_promotion_seconds_is_ignored_without_auto_promotion_as_in_argo() -> None:
    rollout = {
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "targetRef": {"name": "web"},
            "service": {"name": "web", "port": 80},
            "strategy": {"blueGreen": {"autoPromotionEnabled": False, "autoPromotionSeconds": 5}},
        },
    }
    assert models.parse(rollout).steps[:2] == (models.Pause(None), models.SetWeight(100))


def test_promote_full_still_switches_in_one_write(runtime: Runtime, kube: Kube) -> None:
    """Argo's `promote --full` skips the analyses and pauses; the traffic still moves at once
    (never a rolling update of the primary under production traffic)."""
    spec = {"autoPromotionEnabled": False, "scaleDownDelaySeconds": 60}
    for doc in yaml.safe_load_all(manifests(spec)):
        kube.create(doc)
    wait(runtime, Stage.HEALTHY)
    with Recorder(kube, "v1", "services", ACTIVE, namespace=NS) as active:
        set_image(runtime, "green")
        paused = wait(runtime, Stage.PAUSED, step=0)
        ferry(runtime, "promote", "--full", NAME)
        wait(runtime, Stage.HEALTHY, stable_revision=paused.canary_revision, timeout=30)
        selectors = distinct([v["spec"]["selector"] for v in active.versions() if "spec" in v])
    assert selectors == [BLUE, GREEN, BLUE]
    assert image(kube, f"{NAME}-primary").endswith(":green")
