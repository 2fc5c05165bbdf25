"""What only the Gateway API router does (the rest: ``test_user_routes``).

Covered: a route that names the canary already (Argo Rollouts' shape) gets its weights set and
back as Git wrote them; a GRPCRoute and several HTTPRoutes at once; every request of Ferry's is
allowed by RBAC and every Gateway API grant in knative/routers.yaml is used (HTTPRoute and
GRPCRoute, through a canary, a hand edit healed, an abort, a retry and a promotion); header
routes that would take a route past the Gateway API's 16 rules are a condition, not a write.
"""

from __future__ import annotations

import copy
from typing import Any

from local import demo
from local.runtime import Runtime
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, eventually, settle
from tests.flow.routers.conftest import (
    GATEWAY,
    as_git_wrote,
    create,
    gateway_weights,
    grpc_route,
    http_route,
    problems,
    rollout,
)
from tests.flow.routers.grants import assert_grants_used_and_nothing_refused

Obj = dict[str, Any]
STEPS: list[Obj] = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]
ROUTING = {"gatewayAPI": {"httpRoute": demo.NAME}}
CRD = "gateway-api/httproutes.yaml"


def route(kube: Kube, name: str = demo.NAME, plural: str = "httproutes") -> Obj:
    found = kube.get(GATEWAY, plural, demo.NAMESPACE, name)
    assert found is not None
    return found


def start(podinfo: Demo, admin: Kube, routing: Obj = ROUTING, **route: Any) -> Obj:
    admin.create(demo.deployment("podinfo:1"))
    git = create(admin, http_route(**route))  # as stored: with the schema's defaults
    admin.create(rollout(routing, STEPS))
    podinfo.wait(Stage.HEALTHY)
    return git


def test_a_route_naming_the_canary_already_gets_its_weights_and_back(
    routed: Runtime, admin: Kube
) -> None:
    podinfo = Demo(routed, admin)
    git = start(podinfo, admin, canary_ref=True)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    assert gateway_weights(route(admin))[0] == [("podinfo-primary", 80), ("podinfo-canary", 20)]
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
    assert gateway_weights(grpc) == [[("podinfo", 80), ("podinfo-canary", 20)]]
    assert problems(grpc, "gateway-api/grpcroutes.yaml") == []
    for name in ("web-a", "web-b"):
        assert gateway_weights(route(admin, name))[0] == [
            ("podinfo-primary", 80),
            ("podinfo-canary", 20),
        ]
    podinfo.command("promote", full=True)
    podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)
    assert gateway_weights(route(admin, demo.NAME, "grpcroutes")) == [[("podinfo", 1)]]
    settle(routed)


def test_routes_that_would_pass_sixteen_rules_are_a_condition(routed: Runtime, admin: Kube) -> None:
    """The Gateway API allows 16 rules per route: a Rollout whose header routes would take the
    route past that waits with a condition saying so, and writes nothing."""
    git = http_route()
    extra = git["spec"]["rules"][1]
    git["spec"]["rules"] += [
        {**copy.deepcopy(extra), "matches": [{"path": {"type": "PathPrefix", "value": f"/x{i}"}}]}
        for i in range(12)
    ]  # 14 rules, one to the Service
    stored = create(admin, git)
    steps: list[Obj] = [
        {
            "setHeaderRoute": {
                "name": f"r{i}",
                "match": [{"headerName": f"X-{i}", "headerValue": {"exact": "1"}}],
            }
        }
        for i in range(3)
    ]
    admin.create(demo.deployment("podinfo:1"))
    admin.create(rollout(ROUTING, [*steps, {"pause": {}}]))

    def message() -> str:
        status = (admin.rollout(demo.NAMESPACE, demo.NAME) or {}).get("status") or {}
        return str(status.get("message") or "") if status.get("phase") == "Degraded" else ""

    text = eventually(message, what="the Rollout Degraded")
    assert "has 14 rules" in text and "17, past the Gateway API's 16 rules per route" in text
    assert as_git_wrote(route(admin)) == as_git_wrote(stored)


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
    eventually(lambda: gateway_weights(route(admin))[0][1] == ("podinfo-canary", 20), what="healed")
    podinfo.command("abort")
    podinfo.wait(Stage.ABORTED)
    podinfo.command("retry")
    podinfo.wait(Stage.PAUSED, step=1)
    podinfo.command("promote", full=True)
    podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)
    settle(routed)
    assert_grants_used_and_nothing_refused(routed, "gateway.networking.k8s.io")
