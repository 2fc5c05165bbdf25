"""The SMI router end to end: a TrafficSplit the Rollout owns carries the weights.

Covered, on the runtime with the upstream SMI CRD: the split is created at weight 0 for the apex
Service, owned by the Rollout; every version of it through a canary is accepted by the upstream
v1alpha2 schema, with the weights 80/20 then 100/0 after the promotion; rootService and
trafficSplitName are honoured; a weight set by hand is restored on the split's watch event; deleting
the Rollout deletes the split; a TrafficSplit of that name that is not the Rollout's is a
condition, never overwritten. Every request of Ferry's is allowed, and every SMI grant in
knative/routers.yaml is used.
"""

from __future__ import annotations

from typing import Any

from local import demo
from local.runtime import Runtime
from shared import models
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, Recorder, eventually, settle
from tests.flow.routers.conftest import problems, rollout
from tests.flow.routers.grants import assert_grants_used_and_nothing_refused

Obj = dict[str, Any]
SMI = "split.smi-spec.io/v1alpha2"
STEPS: list[Obj] = [{"setWeight": 20}, {"pause": {}}]
CRD = "smi/trafficsplits.yaml"


def split(kube: Kube, name: str = demo.NAME) -> Obj | None:
    return kube.get(SMI, "trafficsplits", demo.NAMESPACE, name)


def backends(obj: Obj | None) -> list[tuple[str, Any]]:
    assert obj is not None
    return [(b["service"], b["weight"]) for b in obj["spec"]["backends"]]


def start(podinfo: Demo, admin: Kube, routing: Obj) -> None:
    admin.create(demo.deployment("podinfo:1"))
    admin.create(rollout(routing, STEPS))
    podinfo.wait(Stage.HEALTHY)


def test_a_canary_through_a_trafficsplit_the_rollout_owns(routed: Runtime, admin: Kube) -> None:
    podinfo = Demo(routed, admin)
    start(podinfo, admin, {"smi": {}})
    made = split(admin)
    assert made is not None
    assert made["spec"]["service"] == demo.NAME
    assert backends(made) == [("podinfo-primary", 100), ("podinfo-canary", 0)]
    owner = admin.rollout(demo.NAMESPACE, demo.NAME)
    assert owner is not None
    assert made["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]

    with Recorder(admin, SMI, "trafficsplits", demo.NAME) as recorder:
        podinfo.set_image("podinfo:2")
        podinfo.wait(Stage.PAUSED, step=1)
        assert backends(split(admin)) == [("podinfo-primary", 80), ("podinfo-canary", 20)]
        podinfo.command("promote")
        podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)
    assert backends(split(admin)) == [("podinfo-primary", 100), ("podinfo-canary", 0)]
    versions = recorder.versions()
    assert len(versions) >= 3
    for version in versions:
        assert problems(version, CRD) == [], version

    admin.delete(models.API_VERSION, models.PLURAL, demo.NAMESPACE, demo.NAME)
    eventually(lambda: split(admin) is None, what="the TrafficSplit deleted with the Rollout")


def test_names_are_honoured_and_hand_weights_restored(routed: Runtime, admin: Kube) -> None:
    podinfo = Demo(routed, admin)
    start(podinfo, admin, {"smi": {"rootService": "web", "trafficSplitName": "web-split"}})
    assert split(admin) is None
    made = split(admin, "web-split")
    assert made is not None and made["spec"]["service"] == "web"
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    admin.merge_patch(
        SMI,
        "trafficsplits",
        demo.NAMESPACE,
        "web-split",
        {"spec": {"backends": [{"service": "podinfo-primary", "weight": 10}]}},
    )
    routed.tick()
    eventually(
        lambda: (
            backends(split(admin, "web-split")) == [("podinfo-primary", 80), ("podinfo-canary", 20)]
        ),
        what="the split back at 80/20",
    )


def test_a_split_that_is_not_the_rollouts_is_a_condition(routed: Runtime, admin: Kube) -> None:
    theirs = {
        "apiVersion": SMI,
        "kind": "TrafficSplit",
        "metadata": {"name": demo.NAME, "namespace": demo.NAMESPACE},
        "spec": {"service": demo.NAME, "backends": [{"service": "other", "weight": 100}]},
    }
    admin.request("POST", f"/apis/{SMI}/namespaces/{demo.NAMESPACE}/trafficsplits", body=theirs)
    admin.create(demo.deployment("podinfo:1"))
    admin.create(rollout({"smi": {}}, STEPS))

    def message() -> str:
        status = (admin.rollout(demo.NAMESPACE, demo.NAME) or {}).get("status") or {}
        return str(status.get("message") or "") if status.get("phase") == "Degraded" else ""

    assert "is not this Rollout's" in eventually(message, what="the Rollout Degraded")
    assert backends(split(admin)) == [("other", 100)]


def test_every_request_is_allowed_and_every_smi_grant_used(routed: Runtime, admin: Kube) -> None:
    podinfo = Demo(routed, admin)
    start(podinfo, admin, {"smi": {}})
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    podinfo.command("abort")
    podinfo.wait(Stage.ABORTED)
    podinfo.command("retry")
    podinfo.wait(Stage.PAUSED, step=1)
    admin.delete(models.API_VERSION, models.PLURAL, demo.NAMESPACE, demo.NAME)
    eventually(lambda: split(admin) is None, what="the TrafficSplit deleted")
    settle(routed)
    assert_grants_used_and_nothing_refused(routed, "split.smi-spec.io")
