"""What Ferry keeps for a rollout, changed by hand, is put back on the change's own event.

Covered (the periodic tick is off, so only the watch events can heal): at rest, the canary
(target) scaled up by hand goes back to 0, the primary's image edited by hand goes back to the
stable template, the canary Service's selector edited goes back; during a pause, the canary
weight set by hand goes back to the state's, and the canary Ingress deleted by hand comes back
at the state's weight. None of it is a transition: the state is untouched.
"""

from __future__ import annotations

from typing import Any

from local import demo
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, eventually

INGRESS_API = "networking.k8s.io/v1"
WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {}}]


def _deployment(kube: Kube, name: str) -> dict[str, Any]:
    found = kube.deployment(demo.NAMESPACE, name)
    assert found is not None
    return found


def _image(kube: Kube, name: str) -> str:
    return str(_deployment(kube, name)["spec"]["template"]["spec"]["containers"][0]["image"])


def test_changes_at_rest_are_put_back_at_once(podinfo: Demo, kube: Kube) -> None:
    podinfo.create(steps=STEPS)
    rested = podinfo.wait(Stage.HEALTHY)
    primary = f"{demo.NAME}-primary"

    kube.merge_patch(
        "apps/v1", "deployments", demo.NAMESPACE, demo.NAME, {"spec": {"replicas": 3}}, sub="scale"
    )
    eventually(lambda: _deployment(kube, demo.NAME)["spec"]["replicas"] == 0, what="target at 0")

    hand = {"spec": {"template": {"spec": {"containers": [{"name": "podinfo", "image": "x:9"}]}}}}
    kube.merge_patch("apps/v1", "deployments", demo.NAMESPACE, primary, hand)
    eventually(lambda: _image(kube, primary) == "podinfo:1", what="the primary's image back")

    canary = f"{demo.NAME}-canary"
    kube.merge_patch("v1", "services", demo.NAMESPACE, canary, {"spec": {"selector": {"a": "b"}}})

    def selector() -> Any:
        return (kube.get("v1", "services", demo.NAMESPACE, canary) or {})["spec"]["selector"]

    eventually(lambda: selector() == {"app": demo.NAME}, what="the canary Service's selector")
    assert podinfo.state() == rested


def test_the_canary_weight_and_ingress_are_put_back_during_a_pause(
    podinfo: Demo, kube: Kube
) -> None:
    podinfo.create(steps=STEPS)
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    paused = podinfo.wait(Stage.PAUSED, step=1, weight=20)
    canary = f"{demo.NAME}-canary"

    hand = {"metadata": {"annotations": {WEIGHT: "90"}}}
    kube.merge_patch(INGRESS_API, "ingresses", demo.NAMESPACE, canary, hand)
    eventually(lambda: podinfo.weight() == 20, what="the canary weight back at 20")

    kube.delete(INGRESS_API, "ingresses", demo.NAMESPACE, canary)
    eventually(lambda: podinfo.weight() == 20, what="the canary Ingress back at 20")
    assert podinfo.state() == paused
