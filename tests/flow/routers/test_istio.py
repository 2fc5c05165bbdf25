"""What only the Istio router does (the rest: ``test_user_routes``).

Covered: only the HTTP routes ``routes`` names are split; TCP and TLS routes named by port (and
SNI hosts) are split too and put back, another TCP route untouched; another route to the same
host is left alone; a fully qualified stable host gets a canary destination in the same form; a
route that also sends to another destination is a Degraded condition (Istio wants a route's
weights to add up to 100), never a half-applied split. Subset-level splitting
(``destinationRule``): while the canary gets traffic each subset's labels pick exactly its
revision's Pods behind the apex Service (the canary subset by its ReplicaSet's
``pod-template-hash``), every version of the DestinationRule is accepted by the upstream
schema, at rest only the stable subset's label stays and after the Rollout's deletion the rule
is as Git wrote it; a stable subset labelled in Git is never written at rest, and an abort
scales the canary down at once (the apex reaches its Pods); a label removed by hand is back on
the rule's watch event; a missing subset is a Degraded condition; the CRD refuses an incomplete
``destinationRule`` and one naming a subset twice is an InvalidSpec. Every request of Ferry's
is allowed by RBAC and every Istio grant in knative/routers.yaml and
knative/route-watch/istio.yaml is used.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from local import demo
from local.runtime import Runtime
from shared import models
from shared.kube import ApiError, Kube
from shared.routers.splits import MARK
from shared.state import Stage
from shared.workloads import ROLE_LABEL
from tests.flow.conftest import Demo, Recorder, eventually, settle
from tests.flow.routers.conftest import (
    ISTIO,
    SUBSET_ROUTING,
    as_git_wrote,
    create,
    destination_rule,
    istio_weights,
    problems,
    rollout,
    subset_virtual_service,
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


def test_tcp_and_tls_routes_are_split_by_port_and_put_back(routed: Runtime, admin: Kube) -> None:
    """Argo Rollouts' ``tcpRoutes`` and ``tlsRoutes``: the TCP and TLS routes on the named
    port (and SNI hosts) get the weights too, each list recording its own changes; another
    TCP route is left alone; at rest the VirtualService is as Git wrote it."""
    podinfo = Demo(routed, admin)
    git = virtual_service()
    primary = f"{demo.NAME}-primary"
    git["spec"]["tcp"] = [
        {"match": [{"port": 27017}], "route": [{"destination": {"host": primary}}]},
        {"match": [{"port": 5432}], "route": [{"destination": {"host": "db"}}]},
    ]
    git["spec"]["tls"] = [
        {
            "match": [{"port": 443, "sniHosts": ["podinfo.local"]}],
            "route": [{"destination": {"host": primary}}],
        }
    ]
    admin.create(demo.deployment("podinfo:1"))
    stored = create(admin, git)
    spec = routing(
        routes=["primary"],
        tcpRoutes=[{"port": 27017}],
        tlsRoutes=[{"port": 443, "sniHosts": ["podinfo.local"]}],
    )
    admin.create(rollout(spec, STEPS))
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    now = vs(admin)
    split = [(primary, 80), (f"{demo.NAME}-canary", 20)]

    def sends(rule: Obj) -> list[tuple[str, Any]]:
        return [(r["destination"]["host"], r.get("weight")) for r in rule["route"]]

    assert sends(now["spec"]["http"][0]) == split
    assert sends(now["spec"]["tcp"][0]) == split
    assert sends(now["spec"]["tls"][0]) == split
    assert sends(now["spec"]["tcp"][1]) == [("db", None)]
    marks = {k for k in now["metadata"]["annotations"] if k.startswith("ferry.dev/")}
    assert marks == {MARK, f"{MARK}-tcp", f"{MARK}-tls"}
    assert problems(now, "istio/virtualservices.yaml") == []
    podinfo.command("promote")
    podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)
    assert as_git_wrote(vs(admin)) == as_git_wrote(stored)


def test_a_route_with_another_destination_is_a_condition(routed: Runtime, admin: Kube) -> None:
    git = virtual_service()
    git["spec"]["http"][0]["route"].append({"destination": {"host": "legacy"}})
    admin.create(demo.deployment("podinfo:1"))
    create(admin, git)
    admin.create(rollout(routing(), STEPS))
    text = eventually(lambda: degraded(admin), what="the Rollout Degraded")
    assert "also sends to other destinations" in text
    assert istio_weights(vs(admin))[0] == [("podinfo-primary", None), ("legacy", None)]


def rule(kube: Kube) -> Obj:
    found = kube.get(ISTIO, "destinationrules", demo.NAMESPACE, demo.NAME)
    assert found is not None
    return found


def labels_of(obj: Obj) -> dict[str, dict[str, str]]:
    return {s["name"]: s.get("labels") for s in obj["spec"]["subsets"]}


def pods(kube: Kube) -> list[Obj]:
    return [
        p
        for p in kube.list_of("v1", "pods", demo.NAMESPACE)
        if not p["metadata"].get("deletionTimestamp")
    ]


def selected(kube: Kube, labels: dict[str, str]) -> set[str]:
    """The names of the Pods behind the apex Service that a subset's labels pick."""
    service = kube.get("v1", "services", demo.NAMESPACE, demo.NAME)
    assert service is not None
    behind = service["spec"]["selector"].items()
    return {
        p["metadata"]["name"]
        for p in pods(kube)
        if behind <= p["metadata"]["labels"].items()
        and labels.items() <= p["metadata"]["labels"].items()
    }


def owned_by(kube: Kube, deployment: str) -> set[str]:
    """The Pods of a Deployment (through its ReplicaSets)."""
    sets = {
        rs["metadata"]["name"]
        for rs in kube.list_of("apps/v1", "replicasets", demo.NAMESPACE)
        if any(o["name"] == deployment for o in rs["metadata"].get("ownerReferences") or [])
    }
    return {
        p["metadata"]["name"]
        for p in pods(kube)
        if any(o["name"] in sets for o in p["metadata"].get("ownerReferences") or [])
    }


def test_subsets_pick_each_revisions_pods_while_the_canary_gets_traffic(
    routed: Runtime, admin: Kube
) -> None:
    podinfo = Demo(routed, admin)
    admin.create(demo.deployment("podinfo:1"))
    git_rule = create(admin, destination_rule())
    git_vs = create(admin, subset_virtual_service())
    admin.create(rollout(SUBSET_ROUTING, STEPS))
    podinfo.wait(Stage.HEALTHY)
    assert admin.get("v1", "services", demo.NAMESPACE, f"{demo.NAME}-canary") is None
    at_rest = labels_of(rule(admin))
    assert at_rest == {"canary": {"app": demo.NAME}, "stable": {ROLE_LABEL: "primary"}}

    with Recorder(admin, ISTIO, "destinationrules", demo.NAME) as recorder:
        podinfo.set_image("podinfo:2")
        podinfo.wait(Stage.PAUSED, step=1)
        now = labels_of(rule(admin))
        assert now["stable"] == {ROLE_LABEL: "primary"}
        assert set(now["canary"]) == {"app", "pod-template-hash"}
        canary, stable = owned_by(admin, demo.NAME), owned_by(admin, f"{demo.NAME}-primary")
        assert canary and stable
        assert selected(admin, now["canary"]) == canary  # each subset: its revision's Pods
        assert selected(admin, now["stable"]) == stable
        assert istio_weights(vs(admin))[0] == [("podinfo-primary", 80), ("podinfo-canary", 20)]
        podinfo.command("promote")
        podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)
        settle(routed)
    assert labels_of(rule(admin)) == at_rest
    assert as_git_wrote(vs(admin)) == as_git_wrote(git_vs)
    for version in recorder.versions():
        assert problems(version, "istio/destinationrules.yaml") == [], version

    admin.delete(models.API_VERSION, models.PLURAL, demo.NAMESPACE, demo.NAME)
    eventually(lambda: admin.rollout(demo.NAMESPACE, demo.NAME) is None, what="Rollout gone")
    assert as_git_wrote(rule(admin)) == as_git_wrote(git_rule)


def test_a_stable_subset_labelled_in_git_is_never_written_at_rest(
    routed: Runtime, admin: Kube
) -> None:
    podinfo = Demo(routed, admin)
    admin.create(demo.deployment("podinfo:1"))
    git_rule = create(admin, destination_rule(stable_labels={ROLE_LABEL: "primary"}))
    create(admin, subset_virtual_service())
    admin.create(rollout(SUBSET_ROUTING, STEPS))
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    podinfo.command("abort")
    podinfo.wait(Stage.ABORTED)
    assert as_git_wrote(rule(admin)) == as_git_wrote(git_rule)
    assert owned_by(admin, demo.NAME) == set()  # the apex reaches them: scaled down at once


def test_a_subset_label_removed_by_hand_is_back_on_its_own_watch_event(
    routed: Runtime, admin: Kube
) -> None:
    podinfo = Demo(routed, admin)
    admin.create(demo.deployment("podinfo:1"))
    create(admin, destination_rule())
    create(admin, subset_virtual_service())
    admin.create(rollout(SUBSET_ROUTING, STEPS))
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    wanted = labels_of(rule(admin))
    subsets = copy.deepcopy(rule(admin)["spec"]["subsets"])
    for subset in subsets:  # Ferry's labels taken off by hand
        subset["labels"] = {k: v for k, v in subset["labels"].items() if k == "app"}
    admin.merge_patch(
        ISTIO, "destinationrules", demo.NAMESPACE, demo.NAME, {"spec": {"subsets": subsets}}
    )
    eventually(lambda: labels_of(rule(admin)) == wanted, what="the subsets' labels back")


def test_a_missing_subset_is_a_condition_and_a_bad_shape_invalid(
    routed: Runtime, admin: Kube
) -> None:
    broken = destination_rule()
    broken["spec"]["subsets"] = broken["spec"]["subsets"][:1]
    create(admin, broken)
    create(admin, subset_virtual_service())
    admin.create(demo.deployment("podinfo:1"))
    admin.create(rollout(SUBSET_ROUTING, STEPS))
    text = eventually(lambda: degraded(admin), what="the Rollout Degraded")
    assert "has no subset named 'stable'" in text

    def edit(**fields: Any) -> None:
        body = {"spec": {"trafficRouting": {"istio": {"destinationRule": fields}}}}
        admin.merge_patch(models.API_VERSION, models.PLURAL, demo.NAMESPACE, demo.NAME, body)

    with pytest.raises(ApiError) as refused:  # the CRD requires the three names
        edit(canarySubsetName=None)
    assert refused.value.status == 422
    edit(canarySubsetName="stable")

    def invalid() -> str:
        status = (admin.rollout(demo.NAMESPACE, demo.NAME) or {}).get("status") or {}
        found = [c for c in status.get("conditions") or [] if c.get("type") == "InvalidSpec"]
        return str(found[0]["message"]) if found else ""

    text = eventually(invalid, what="the InvalidSpec condition")
    assert "InvalidSpec" in admin.rollout(demo.NAMESPACE, demo.NAME)["status"]["message"]
    assert "spec.trafficRouting.istio.destinationRule: the canary and stable subsets" in text


def test_every_request_is_allowed_and_every_istio_grant_used(routed: Runtime, admin: Kube) -> None:
    """Subset-level, which reads and writes all that host-level does and more."""
    podinfo = Demo(routed, admin)
    admin.create(demo.deployment("podinfo:1"))
    create(admin, destination_rule())
    create(admin, subset_virtual_service())
    admin.create(rollout(SUBSET_ROUTING, STEPS))
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
    assert_grants_used_and_nothing_refused(routed, "apps")
