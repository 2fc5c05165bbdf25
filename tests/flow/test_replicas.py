"""A canary without traffic routing: weights as shares of replicas, as Argo Rollouts' basic canary.

Covered: the no-op router is chosen when ``spec.trafficRouting`` is left out; the primary's Pods
carry the target's labels plus ``ferry.dev/role: primary`` so the apex Service selects the Pods
of both revisions, and no canary Service or Ingress is made; the canary runs no Pod before its
first step and ``ceil(weight% of the primary)`` after each ``setWeight`` (seen through a watch
on the target), the apex's Endpoints list the ready Pods of both revisions while the target
Deployment counts only its own; promotion leaves the target at 0 and the primary on the new
image; an abort scales the canary down at once, whatever ``abortScaleDownDelaySeconds`` says;
the reconcile tick puts back a canary scaled by hand.
"""

from __future__ import annotations

from typing import Any

from local import demo
from local.runtime import Runtime
from shared import workloads
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, Recorder, distinct, eventually, is_subsequence

STEPS: list[dict[str, Any]] = [
    {"setWeight": 25},
    {"pause": {"duration": "3s"}},
    {"setWeight": 50},
    {"pause": {"duration": "1s"}},
]


def _create(kube: Kube, steps: list[dict[str, Any]], **spec: Any) -> None:
    kube.create(demo.deployment("podinfo:1", replicas=4))
    rollout = demo.rollout(steps, **spec)
    del rollout["spec"]["trafficRouting"]
    kube.create(rollout)


def _ready_addresses(kube: Kube, service: str) -> set[str]:
    endpoints = kube.get("v1", "endpoints", demo.NAMESPACE, service) or {}
    return {
        address["ip"]
        for subset in endpoints.get("subsets") or []
        for address in subset.get("addresses") or []
    }


def _pod_ips(kube: Kube, selector: dict[str, str]) -> set[str]:
    text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    pods = kube.list_of("v1", "pods", demo.NAMESPACE, label_selector=text)
    return {p["status"]["podIP"] for p in pods if (p.get("status") or {}).get("podIP")}


def test_weights_are_shares_of_replicas_and_the_apex_selects_both(
    podinfo: Demo, kube: Kube
) -> None:
    _create(kube, STEPS)
    podinfo.wait(Stage.HEALTHY)
    primary = kube.deployment(demo.NAMESPACE, f"{demo.NAME}-primary")
    assert primary is not None
    labels = primary["spec"]["selector"]["matchLabels"]
    assert labels == {"app": demo.NAME, workloads.ROLE_LABEL: "primary"}
    apex = kube.get("v1", "services", demo.NAMESPACE, demo.NAME)
    assert apex is not None and apex["spec"]["selector"] == {"app": demo.NAME}
    assert kube.get("v1", "services", demo.NAMESPACE, f"{demo.NAME}-canary") is None
    ingresses = kube.list_of("networking.k8s.io/v1", "ingresses", demo.NAMESPACE)
    assert ingresses == []

    with Recorder(kube, "apps/v1", "deployments", demo.NAME) as target:
        podinfo.set_image("podinfo:2")
        state = podinfo.wait(Stage.PAUSED, step=1, weight=25)

        def both_served() -> bool:
            served = _ready_addresses(kube, demo.NAME)
            stable = _pod_ips(kube, labels)
            return len(stable) == 4 and len(served) == 5 and stable < served

        eventually(both_served, timeout=10, what="the apex serving 4 stable and 1 canary Pod")
        current = kube.deployment(demo.NAMESPACE, demo.NAME)
        assert current is not None
        assert current["spec"]["replicas"] == 1
        assert current["status"].get("replicas") == 1  # the primary's Pods are not the target's
        podinfo.wait(Stage.HEALTHY, stable_revision=state.canary_revision, timeout=20)
    replicas = distinct([v["spec"]["replicas"] for v in target.versions() if "spec" in v])
    assert is_subsequence([0, 1, 2, 0], replicas), replicas
    assert max(replicas) == 2, replicas  # never the full size: the weight is the replica share
    primary = kube.deployment(demo.NAMESPACE, f"{demo.NAME}-primary")
    assert primary is not None
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:2"
    assert _ready_addresses(kube, demo.NAME) == _pod_ips(kube, labels)


def test_an_abort_scales_the_canary_down_at_once(
    podinfo: Demo, kube: Kube, runtime: Runtime
) -> None:
    canary = {"steps": [{"setWeight": 50}, {"pause": {}}], "abortScaleDownDelaySeconds": 600}
    _create(kube, [], strategy={"canary": canary})
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1, weight=50)
    target = kube.deployment(demo.NAMESPACE, demo.NAME)
    assert target is not None and target["spec"]["replicas"] == 2
    podinfo.command("abort")
    state = podinfo.wait(Stage.ABORTED)
    assert state.scaled_down and "canary scaled down" in state.message
    target = kube.deployment(demo.NAMESPACE, demo.NAME)
    assert target is not None and target["spec"]["replicas"] == 0


def test_the_tick_puts_back_a_canary_scaled_by_hand(
    podinfo: Demo, kube: Kube, runtime: Runtime
) -> None:
    _create(kube, [{"setWeight": 25}, {"pause": {}}])
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1, weight=25)
    kube.scale(demo.NAMESPACE, demo.NAME, 4)
    runtime.tick()

    def healed() -> bool:
        target = kube.deployment(demo.NAMESPACE, demo.NAME)
        return target is not None and target["spec"]["replicas"] == 1

    eventually(healed, what="the canary back at 1 replica")
