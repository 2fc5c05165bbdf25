"""The Gateway API router end to end: the user's HTTPRoute (or GRPCRoute) carries the weights.

Covered, on the runtime with the upstream Gateway API CRDs: a canary through an HTTPRoute with
every version of the route recorded (each accepted by the upstream schema, the weights 80/20
then 50/50 on the rule to the Service, the other rule never touched, a user's edit of an
unrelated field during the pause kept by the next step), and after the promotion the route is
exactly as Git wrote it plus the user's edit; an abort and a deletion of the Rollout put it back
the same way; a weight set by hand is restored by the next reconcile; a route that names the
canary already (Argo Rollouts' shape) gets its weights set and back; a GRPCRoute and several
routes at once; a missing route is a condition that its creation clears. Every request of
Ferry's is allowed by RBAC, and every grant knative/routers.yaml gives for the Gateway API is
used.
"""

from __future__ import annotations

import copy
from typing import Any

from local import demo
from local.runtime import Runtime
from shared import models
from shared.kube import Kube
from shared.routers import gatewayapi
from shared.state import Stage
from tests.flow.conftest import Demo, Recorder, eventually, settle
from tests.flow.routers.conftest import GATEWAY, create, grpc_route, http_route, problems, rollout
from tests.flow.routers.grants import assert_grants_used_and_nothing_refused

Obj = dict[str, Any]
STEPS: list[Obj] = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]
ROUTING = {"gatewayAPI": {"httpRoute": demo.NAME}}
CRD = "gateway-api/httproutes.yaml"


def route(kube: Kube, name: str = demo.NAME, plural: str = "httproutes") -> Obj:
    found = kube.get(GATEWAY, plural, demo.NAMESPACE, name)
    assert found is not None
    return found


def weights(obj: Obj) -> list[list[tuple[str, Any]]]:
    """Each rule's backendRefs as (name, weight or None)."""
    return [
        [(ref["name"], ref.get("weight")) for ref in rule.get("backendRefs") or []]
        for rule in obj["spec"]["rules"]
    ]


def as_git_wrote(obj: Obj) -> Obj:
    """What the user's Git manages: the spec, labels and annotations."""
    meta = obj["metadata"]
    return {
        "spec": obj["spec"],
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
    }


def start(podinfo: Demo, admin: Kube, routing: Obj = ROUTING, **route: Any) -> Obj:
    admin.create(demo.deployment("podinfo:1"))
    git = create(admin, http_route(**route))  # as stored: with the schema's defaults
    admin.create(rollout(routing, STEPS))
    podinfo.wait(Stage.HEALTHY)
    return git


def test_a_canary_through_an_httproute_and_the_route_as_git_wrote_it_after(
    routed: Runtime, admin: Kube
) -> None:
    podinfo = Demo(routed, admin)
    git = start(podinfo, admin)
    assert as_git_wrote(route(admin)) == as_git_wrote(git)  # at rest: untouched

    with Recorder(admin, GATEWAY, "httproutes", demo.NAME) as recorder:
        podinfo.set_image("podinfo:2")
        podinfo.wait(Stage.PAUSED, step=1)
        assert weights(route(admin))[0] == [
            ("podinfo-primary", 80),
            ("podinfo-canary", 20),
        ]
        # The user's Git changes an unrelated field meanwhile: it stays.
        admin.merge_patch(
            GATEWAY,
            "httproutes",
            demo.NAMESPACE,
            demo.NAME,
            {"spec": {"hostnames": ["podinfo.local", "www.podinfo.local"]}},
        )
        podinfo.command("promote")
        podinfo.wait(Stage.PAUSED, step=3)
        now = route(admin)
        assert weights(now)[0] == [("podinfo-primary", 50), ("podinfo-canary", 50)]
        assert now["spec"]["hostnames"] == ["podinfo.local", "www.podinfo.local"]
        assert weights(now)[1] == weights(git)[1] == [("cdn", 1)]
        podinfo.command("promote")
        podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)

    edited = copy.deepcopy(git)
    edited["spec"]["hostnames"].append("www.podinfo.local")
    assert as_git_wrote(route(admin)) == as_git_wrote(edited)
    versions = recorder.versions()
    assert len(versions) >= 4
    for version in versions:
        assert problems(version, CRD) == [], version
    seen = [weights(v)[0] for v in versions]
    assert [("podinfo-primary", 80), ("podinfo-canary", 20)] in seen
    assert all(weights(v)[1] == [("cdn", 1)] for v in versions)


def test_an_abort_and_a_deletion_put_the_route_back(routed: Runtime, admin: Kube) -> None:
    podinfo = Demo(routed, admin)
    git = start(podinfo, admin)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    podinfo.command("abort")
    podinfo.wait(Stage.ABORTED)
    assert as_git_wrote(route(admin)) == as_git_wrote(git)

    podinfo.command("retry")
    podinfo.wait(Stage.PAUSED, step=1)
    assert gatewayapi.MARK in route(admin)["metadata"]["annotations"]
    admin.delete(models.API_VERSION, models.PLURAL, demo.NAMESPACE, demo.NAME)
    eventually(lambda: admin.rollout(demo.NAMESPACE, demo.NAME) is None, what="Rollout gone")
    assert as_git_wrote(route(admin)) == as_git_wrote(git)


def test_a_weight_set_by_hand_is_restored_by_the_next_reconcile(
    routed: Runtime, admin: Kube
) -> None:
    podinfo = Demo(routed, admin)
    start(podinfo, admin)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    hand = route(admin)
    hand["spec"]["rules"][0]["backendRefs"][0]["weight"] = 30
    hand["spec"]["rules"][0]["backendRefs"][1]["weight"] = 70
    admin.merge_patch(
        GATEWAY, "httproutes", demo.NAMESPACE, demo.NAME, {"spec": {"rules": hand["spec"]["rules"]}}
    )
    routed.tick()
    eventually(
        lambda: weights(route(admin))[0] == [("podinfo-primary", 80), ("podinfo-canary", 20)],
        what="the weights back at 80/20",
    )
    assert podinfo.state().stage == Stage.PAUSED


def test_a_route_naming_the_canary_already_gets_its_weights_and_back(
    routed: Runtime, admin: Kube
) -> None:
    podinfo = Demo(routed, admin)
    git = start(podinfo, admin, canary_ref=True)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    assert weights(route(admin))[0] == [("podinfo-primary", 80), ("podinfo-canary", 20)]
    podinfo.command("promote", full=True)
    podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)
    assert as_git_wrote(route(admin)) == as_git_wrote(git)


def test_a_grpcroute_and_several_routes_at_once(routed: Runtime, admin: Kube) -> None:
    podinfo = Demo(routed, admin)
    create(admin, grpc_route())
    create(admin, http_route("web-a"))
    create(admin, http_route("web-b"))
    routing = {
        "gatewayAPI": {"grpcRoute": demo.NAME, "httpRoutes": [{"name": "web-a"}, {"name": "web-b"}]}
    }
    admin.create(demo.deployment("podinfo:1"))
    admin.create(rollout(routing, STEPS))
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    grpc = route(admin, demo.NAME, "grpcroutes")
    assert weights(grpc) == [[("podinfo", 80), ("podinfo-canary", 20)]]
    assert problems(grpc, "gateway-api/grpcroutes.yaml") == []
    for name in ("web-a", "web-b"):
        assert weights(route(admin, name))[0] == [("podinfo-primary", 80), ("podinfo-canary", 20)]
    podinfo.command("promote", full=True)
    podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)
    assert weights(route(admin, demo.NAME, "grpcroutes")) == [[("podinfo", 1)]]
    settle(routed)


def test_a_missing_route_is_a_condition_its_creation_clears(routed: Runtime, admin: Kube) -> None:
    podinfo = Demo(routed, admin)
    admin.create(demo.deployment("podinfo:1"))
    admin.create(rollout(ROUTING, STEPS))

    def message() -> str:
        status = (admin.rollout(demo.NAMESPACE, demo.NAME) or {}).get("status") or {}
        return str(status.get("message") or "") if status.get("phase") == "Degraded" else ""

    text = eventually(message, what="the Rollout Degraded")
    assert f"the HTTPRoute {demo.NAMESPACE}/{demo.NAME}" in text and "does not exist" in text
    create(admin, http_route())
    routed.tick()
    podinfo.wait(Stage.HEALTHY)


def test_every_request_is_allowed_and_every_gateway_grant_used(
    routed: Runtime, admin: Kube
) -> None:
    podinfo = Demo(routed, admin)
    create(admin, grpc_route())
    start(podinfo, admin, {"gatewayAPI": {"httpRoute": demo.NAME, "grpcRoute": demo.NAME}})
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    hand = {"spec": {"rules": copy.deepcopy(route(admin)["spec"]["rules"])}}
    hand["spec"]["rules"][0]["backendRefs"][1]["weight"] = 70
    admin.merge_patch(GATEWAY, "httproutes", demo.NAMESPACE, demo.NAME, hand)
    routed.tick()
    eventually(lambda: weights(route(admin))[0][1] == ("podinfo-canary", 20), what="healed")
    podinfo.command("abort")
    podinfo.wait(Stage.ABORTED)
    podinfo.command("retry")
    podinfo.wait(Stage.PAUSED, step=1)
    podinfo.command("promote", full=True)
    podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)
    settle(routed)
    assert_grants_used_and_nothing_refused(routed, "gateway.networking.k8s.io")
