"""Routers that edit the user's own route (Gateway API HTTPRoute, Istio VirtualService).

Covered for each, on the runtime with the upstream CRDs: a canary through the route with every
version of it recorded (each accepted by the upstream schema; 80/20 then 50/50 on the rule to
the Service; the other rule never touched; a user's edit of an unrelated field during the pause
kept by the next step), and after the promotion the route is exactly as Git wrote it plus the
user's edit; an abort and the Rollout's deletion put it back the same way; a weight set by hand
is restored on the route's own watch event (``knative/route-watch/``; the periodic tick is off);
a missing route is a Degraded condition that its creation clears, on its watch event too.
Header and mirror routes: a rule each, just before the rule it derives from (the header one to
the canary only, the mirror one copying a percentage to it), every version accepted by the
upstream schema, removed by their removal step, gone after the promotion, after an abort
and after a rollback to the stable template (the route exactly as Git wrote it), and an added
rule removed by hand is back on the route's watch event. A cookie route is a rule matching the
Cookie header.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from local import demo
from local.runtime import Runtime
from shared import models
from shared.kube import Kube
from shared.routers import splits
from shared.state import Stage
from tests.flow.conftest import Demo, Recorder, eventually
from tests.flow.routers.conftest import (
    GATEWAY,
    ISTIO,
    SUBSET_ROUTING,
    Weights,
    as_git_wrote,
    create,
    destination_rule,
    gateway_weights,
    http_route,
    istio_weights,
    problems,
    rollout,
    subset_virtual_service,
    virtual_service,
)

Obj = dict[str, Any]
STEPS: list[Obj] = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]


@dataclass(frozen=True)
class Case:
    """One router that edits a user's route, and how to read and edit that route."""

    routing: Obj
    api_version: str
    plural: str
    crd: str
    make: Callable[[], Obj]
    weights: Callable[[Obj], Weights]
    hosts: str
    """The route's list of host names: the unrelated field the user edits."""
    kind: str
    canary_destination: Obj
    """Where a mirror rule copies requests to."""
    extra: Callable[[], list[Obj]] = list
    """The user's other objects the router needs (Istio's DestinationRule for subsets)."""

    def get(self, kube: Kube) -> Obj:
        found = kube.get(self.api_version, self.plural, demo.NAMESPACE, demo.NAME)
        assert found is not None
        return found

    def install(self, kube: Kube, *, route: bool = True) -> Obj:
        """Create the user's objects (with the route unless told not to); the route as
        stored: with the schema's defaults."""
        for obj in self.extra():
            create(kube, obj)
        return create(kube, self.make()) if route else {}

    def rules(self, obj: Obj) -> list[Obj]:
        return list(obj["spec"]["rules" if self.plural == "httproutes" else "http"])


CASES = {
    "gatewayAPI": Case(
        {"gatewayAPI": {"httpRoute": demo.NAME}},
        GATEWAY,
        "httproutes",
        "gateway-api/httproutes.yaml",
        http_route,
        gateway_weights,
        "hostnames",
        "HTTPRoute",
        {"name": "podinfo-canary", "port": 80},
    ),
    "istio": Case(
        {"istio": {"virtualService": {"name": demo.NAME, "routes": ["primary"]}}},
        ISTIO,
        "virtualservices",
        "istio/virtualservices.yaml",
        virtual_service,
        istio_weights,
        "hosts",
        "VirtualService",
        {"host": "podinfo-canary"},
    ),
    "istio-subsets": Case(
        SUBSET_ROUTING,
        ISTIO,
        "virtualservices",
        "istio/virtualservices.yaml",
        subset_virtual_service,
        istio_weights,
        "hosts",
        "VirtualService",
        {"host": demo.NAME, "subset": "canary"},
        lambda: [destination_rule()],
    ),
}
AT_20 = [("podinfo-primary", 80), ("podinfo-canary", 20)]
AT_50 = [("podinfo-primary", 50), ("podinfo-canary", 50)]


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


def start(podinfo: Demo, admin: Kube, case: Case) -> Obj:
    admin.create(demo.deployment("podinfo:1"))
    git = case.install(admin)
    admin.create(rollout(case.routing, STEPS))
    podinfo.wait(Stage.HEALTHY)
    return git


def test_a_canary_through_the_route_and_the_route_as_git_wrote_it_after(
    routed: Runtime, admin: Kube, case: Case
) -> None:
    podinfo = Demo(routed, admin)
    git = start(podinfo, admin, case)
    assert as_git_wrote(case.get(admin)) == as_git_wrote(git)  # at rest: untouched
    other = case.weights(git)[1]

    with Recorder(admin, case.api_version, case.plural, demo.NAME) as recorder:
        podinfo.set_image("podinfo:2")
        podinfo.wait(Stage.PAUSED, step=1)
        assert case.weights(case.get(admin))[0] == AT_20
        hosts = [*git["spec"][case.hosts], "www.podinfo.local"]
        admin.merge_patch(  # the user's Git changes an unrelated field meanwhile: it stays
            case.api_version, case.plural, demo.NAMESPACE, demo.NAME, {"spec": {case.hosts: hosts}}
        )
        podinfo.command("promote")
        podinfo.wait(Stage.PAUSED, step=3)
        now = case.get(admin)
        assert case.weights(now)[0] == AT_50
        assert now["spec"][case.hosts] == hosts
        assert case.weights(now)[1] == other
        podinfo.command("promote")
        podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)

    edited = copy.deepcopy(git)
    edited["spec"][case.hosts] = hosts
    assert as_git_wrote(case.get(admin)) == as_git_wrote(edited)
    versions = recorder.versions()
    assert len(versions) >= 4
    for version in versions:
        assert problems(version, case.crd) == [], version
    assert AT_20 in [case.weights(v)[0] for v in versions]
    assert all(case.weights(v)[1] == other for v in versions)


def test_an_abort_and_a_deletion_put_the_route_back(
    routed: Runtime, admin: Kube, case: Case
) -> None:
    podinfo = Demo(routed, admin)
    git = start(podinfo, admin, case)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    podinfo.command("abort")
    podinfo.wait(Stage.ABORTED)
    assert as_git_wrote(case.get(admin)) == as_git_wrote(git)

    podinfo.command("retry")
    podinfo.wait(Stage.PAUSED, step=1)
    assert splits.MARK in case.get(admin)["metadata"]["annotations"]
    admin.delete(models.API_VERSION, models.PLURAL, demo.NAMESPACE, demo.NAME)
    eventually(lambda: admin.rollout(demo.NAMESPACE, demo.NAME) is None, what="Rollout gone")
    assert as_git_wrote(case.get(admin)) == as_git_wrote(git)


def test_a_weight_set_by_hand_is_restored_on_its_own_watch_event(
    routed: Runtime, admin: Kube, case: Case
) -> None:
    podinfo = Demo(routed, admin)
    start(podinfo, admin, case)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    rules = copy.deepcopy(case.rules(case.get(admin)))
    refs = rules[0]["backendRefs" if case.plural == "httproutes" else "route"]
    refs[0]["weight"], refs[1]["weight"] = 30, 70
    key = "rules" if case.plural == "httproutes" else "http"
    admin.merge_patch(
        case.api_version, case.plural, demo.NAMESPACE, demo.NAME, {"spec": {key: rules}}
    )
    eventually(lambda: case.weights(case.get(admin))[0] == AT_20, what="the weights back")
    assert podinfo.state().stage == Stage.PAUSED


def test_a_missing_route_is_a_condition_its_creation_clears(
    routed: Runtime, admin: Kube, case: Case
) -> None:
    podinfo = Demo(routed, admin)
    admin.create(demo.deployment("podinfo:1"))
    case.install(admin, route=False)
    admin.create(rollout(case.routing, STEPS))

    def message() -> str:
        status = (admin.rollout(demo.NAMESPACE, demo.NAME) or {}).get("status") or {}
        return str(status.get("message") or "") if status.get("phase") == "Degraded" else ""

    text = eventually(message, what="the Rollout Degraded")
    assert f"the {case.kind} {demo.NAMESPACE}/{demo.NAME}" in text and "does not exist" in text
    create(admin, case.make())  # its own watch event wakes the rollout (no tick)
    podinfo.wait(Stage.HEALTHY)


ROUTE_STEPS: list[Obj] = [
    {"setWeight": 20},
    {
        "setHeaderRoute": {
            "name": "testers",
            "match": [{"headerName": "X-Canary", "headerValue": {"exact": "yes"}}],
        }
    },
    {
        "setMirrorRoute": {
            "name": "shadow",
            "percentage": 30,
            "match": [{"path": {"prefix": "/api"}}],
        }
    },
    {"pause": {}},
    {"setHeaderRoute": {"name": "testers"}},
    {"pause": {}},
]


def _added(case: Case, obj: Obj) -> dict[str, Obj]:
    """The rules Ferry added, by name."""
    return {r["name"]: r for r in case.rules(obj) if str(r.get("name", "")).startswith("ferry-")}


def _to_canary_only(case: Case, rule: Obj) -> bool:
    targets = case.weights({"spec": {("rules" if case.plural == "httproutes" else "http"): [rule]}})
    return [name for name, _ in targets[0]] == ["podinfo-canary"]


def test_header_and_mirror_routes_are_added_removed_and_gone_at_the_end(
    routed: Runtime, admin: Kube, case: Case
) -> None:
    podinfo = Demo(routed, admin)
    admin.create(demo.deployment("podinfo:1"))
    git = case.install(admin)
    admin.create(rollout(case.routing, ROUTE_STEPS))
    podinfo.wait(Stage.HEALTHY)
    with Recorder(admin, case.api_version, case.plural, demo.NAME) as recorder:
        podinfo.set_image("podinfo:2")
        podinfo.wait(Stage.PAUSED, step=3)
        now = case.get(admin)
        added = _added(case, now)
        assert sorted(added) == ["ferry-shadow-0", "ferry-testers-0"]
        names = [r.get("name") for r in case.rules(now)]
        assert names.index("ferry-testers-0") < names.index("ferry-shadow-0")
        assert names.index("ferry-shadow-0") < names.index(case.rules(git)[0].get("name"))
        assert _to_canary_only(case, added["ferry-testers-0"])
        assert case.weights(now)[names.index(case.rules(git)[0].get("name"))] == AT_20
        mirror = added["ferry-shadow-0"]
        if case.plural == "httproutes":
            header = added["ferry-testers-0"]["matches"][0]["headers"]
            assert {"name": "X-Canary", "type": "Exact", "value": "yes"} in header
            (filter_,) = [f for f in mirror["filters"] if f["type"] == "RequestMirror"]
            assert filter_["requestMirror"]["percent"] == 30
            backend = filter_["requestMirror"]["backendRef"]
            assert case.canary_destination.items() <= backend.items()
            assert mirror["matches"][0]["path"] == {"type": "PathPrefix", "value": "/api"}
        else:
            assert added["ferry-testers-0"]["match"][0]["headers"] == {"x-canary": {"exact": "yes"}}
            assert mirror["mirror"] == case.canary_destination
            assert mirror["mirrorPercentage"] == {"value": 30.0}
            assert mirror["match"][0]["uri"] == {"prefix": "/api"}

        podinfo.command("promote")
        podinfo.wait(Stage.PAUSED, step=5)
        assert sorted(_added(case, case.get(admin))) == ["ferry-shadow-0"]
        podinfo.command("promote")
        podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)
    assert as_git_wrote(case.get(admin)) == as_git_wrote(git)
    for version in recorder.versions():
        assert problems(version, case.crd) == [], version


def test_routes_go_on_abort(routed: Runtime, admin: Kube, case: Case) -> None:
    podinfo = Demo(routed, admin)
    admin.create(demo.deployment("podinfo:1"))
    git = case.install(admin)
    admin.create(rollout(case.routing, ROUTE_STEPS))
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=3)
    assert _added(case, case.get(admin))
    podinfo.command("abort")
    podinfo.wait(Stage.ABORTED)
    assert as_git_wrote(case.get(admin)) == as_git_wrote(git)


def test_an_added_rule_removed_by_hand_is_back_on_its_own_watch_event(
    routed: Runtime, admin: Kube, case: Case
) -> None:
    podinfo = Demo(routed, admin)
    admin.create(demo.deployment("podinfo:1"))
    case.install(admin)
    admin.create(rollout(case.routing, ROUTE_STEPS))
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=3)
    key = "rules" if case.plural == "httproutes" else "http"
    kept = [r for r in case.rules(case.get(admin)) if r.get("name") != "ferry-testers-0"]
    admin.merge_patch(
        case.api_version, case.plural, demo.NAMESPACE, demo.NAME, {"spec": {key: kept}}
    )
    eventually(
        lambda: sorted(_added(case, case.get(admin))) == ["ferry-shadow-0", "ferry-testers-0"],
        what="the header route back",
    )


def test_a_cookie_route_is_a_rule_matching_the_cookie_header(
    routed: Runtime, admin: Kube, case: Case
) -> None:
    podinfo = Demo(routed, admin)
    steps: list[Obj] = [
        {"setWeight": 20},
        {"setCookieRoute": {"name": "beta", "cookieName": "canary"}},
        {"pause": {}},
    ]
    admin.create(demo.deployment("podinfo:1"))
    git = case.install(admin)
    admin.create(rollout(case.routing, steps))
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=2)
    now = case.get(admin)
    assert problems(now, case.crd) == []
    rule = _added(case, now)["ferry-beta-0"]
    assert _to_canary_only(case, rule)
    pattern = r"^(.*?;\s*)?canary=always(;.*)?$"
    if case.plural == "httproutes":
        assert {"name": "Cookie", "type": "RegularExpression", "value": pattern} in (
            rule["matches"][0]["headers"]
        )
    else:
        assert rule["match"][0]["headers"] == {"cookie": {"regex": pattern}}
    podinfo.command("promote")
    podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)
    assert as_git_wrote(case.get(admin)) == as_git_wrote(git)


def test_a_rollback_to_the_stable_template_puts_the_route_back(
    routed: Runtime, admin: Kube, case: Case
) -> None:
    podinfo = Demo(routed, admin)
    admin.create(demo.deployment("podinfo:1"))
    git = case.install(admin)
    admin.create(rollout(case.routing, ROUTE_STEPS))
    podinfo.wait(Stage.HEALTHY)
    target = admin.deployment(demo.NAMESPACE, demo.NAME)
    assert target is not None
    template = copy.deepcopy(target["spec"]["template"])
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=3)
    assert _added(case, case.get(admin))
    body = {"spec": {"template": template}}  # the user reverts the target to the stable one
    admin.merge_patch("apps/v1", "deployments", demo.NAMESPACE, demo.NAME, body)
    podinfo.wait(Stage.HEALTHY, reason="RolledBack")
    assert as_git_wrote(case.get(admin)) == as_git_wrote(git)
