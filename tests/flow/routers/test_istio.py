"""What only the Istio router does (the rest: ``test_user_routes``).

Covered: only the HTTP routes ``routes`` names are split, another route to the same host is
left alone; a fully qualified stable host gets a canary destination in the same form; a route
that also sends to another destination is a Degraded condition (Istio wants a route's weights
to add up to 100), never a half-applied split; ``destinationRule`` (subset-level) is refused as
an InvalidSpec naming the field; every request of Ferry's is allowed by RBAC and every Istio
grant in knative/routers.yaml is used.
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
    ISTIO,
    create,
    istio_weights,
    problems,
    rollout,
    virtual_service,
)
from tests.flow.routers.grants import assert_grants_used_and_nothing_refused

Obj = dict[str, Any]
STEPS: list[Obj] = [{"setWeight": 20}, {"pause": {}}]
FQDN = f"{demo.NAME}-primary.{demo.NAMESPACE}.svc.cluster.local"


def vs(kube: Kube) -> Obj:
    found = kube.get(ISTIO, "virtualservices", demo.NAMESPACE, demo.NAME)
    assert found is not None
    return found


def routing(**virtual_service: Any) -> Obj:
    return {"istio": {"virtualService": {"name": demo.NAME, **virtual_service}}}


def degraded(kube: Kube) -> str:
    status = (kube.rollout(demo.NAMESPACE, demo.NAME) or {}).get("status") or {}
    return str(status.get("message") or "") if status.get("phase") == "Degraded" else ""


def test_only_the_named_routes_are_split_and_hosts_keep_their_form(
    routed: Runtime, admin: Kube
) -> None:
    podinfo = Demo(routed, admin)
    git = virtual_service(host=FQDN)
    second = copy.deepcopy(git["spec"]["http"][0])
    second["name"] = "legacy"
    second["match"] = [{"uri": {"prefix": "/v1"}}]
    git["spec"]["http"].insert(0, second)
    admin.create(demo.deployment("podinfo:1"))
    create(admin, git)
    admin.create(rollout(routing(routes=["primary"]), STEPS))
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    now = vs(admin)
    canary = f"{demo.NAME}-canary.{demo.NAMESPACE}.svc.cluster.local"
    assert istio_weights(now) == [
        [(FQDN, None)],
        [(FQDN, 80), (canary, 20)],
        [("docs", None)],
    ]
    assert problems(now, "istio/virtualservices.yaml") == []


def test_a_route_with_another_destination_is_a_condition(routed: Runtime, admin: Kube) -> None:
    git = virtual_service()
    git["spec"]["http"][0]["route"].append({"destination": {"host": "legacy"}})
    admin.create(demo.deployment("podinfo:1"))
    create(admin, git)
    admin.create(rollout(routing(), STEPS))
    text = eventually(lambda: degraded(admin), what="the Rollout Degraded")
    assert "also sends to other destinations" in text
    assert istio_weights(vs(admin))[0] == [("podinfo-primary", None), ("legacy", None)]


def test_subset_level_splitting_is_refused_by_name(routed: Runtime, admin: Kube) -> None:
    create(admin, virtual_service())
    admin.create(demo.deployment("podinfo:1"))
    spec = routing()
    spec["istio"]["destinationRule"] = {
        "name": demo.NAME,
        "canarySubsetName": "canary",
        "stableSubsetName": "stable",
    }
    admin.create(rollout(spec, STEPS))

    def invalid() -> str:
        status = (admin.rollout(demo.NAMESPACE, demo.NAME) or {}).get("status") or {}
        found = [c for c in status.get("conditions") or [] if c.get("reason") == "InvalidSpec"]
        return str(found[0]["message"]) if found else ""

    text = eventually(invalid, what="the InvalidSpec condition")
    assert "spec.trafficRouting.istio.destinationRule" in text
    assert "subset-level splitting is not supported" in text


def test_every_request_is_allowed_and_every_istio_grant_used(routed: Runtime, admin: Kube) -> None:
    podinfo = Demo(routed, admin)
    admin.create(demo.deployment("podinfo:1"))
    create(admin, virtual_service())
    admin.create(rollout(routing(), STEPS))
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    podinfo.command("abort")
    podinfo.wait(Stage.ABORTED)
    podinfo.command("retry")
    podinfo.wait(Stage.PAUSED, step=1)
    podinfo.command("promote")
    podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)
    settle(routed)
    assert_grants_used_and_nothing_refused(routed, "networking.istio.io")
