"""A/B testing: the canary gets only the requests that match, for N measured iterations, then
is promoted (Flagger's ``analysis.match`` with ``iterations``, written as Argo Rollouts' steps).

Covered, through the user's HTTPRoute with the upstream Gateway API CRDs (the Rollout lists its
route in Argo Rollouts' ``managedRoutes``): the steps
``setHeaderRoute`` (testers' header) then an ``analysis`` whose web metric is measured
``count: 3`` times: while it runs, every version of the route sends 0% of the other requests
to the canary and the matching ones to the canary only; three measurements are taken; the
canary is then promoted and the route is exactly as Git wrote it. When the measurements fail,
the rollout aborts and the route is as Git wrote it too.
"""

from __future__ import annotations

from typing import Any

from local import demo
from local.runtime import Runtime
from shared import models
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Check, Demo, Recorder
from tests.flow.routers.conftest import GATEWAY, as_git_wrote, create, http_route, rollout

Obj = dict[str, Any]
TESTERS = {"name": "testers", "match": [{"headerName": "X-Tester", "headerValue": {"exact": "1"}}]}
STEPS: list[Obj] = [
    {"setHeaderRoute": TESTERS},
    {"analysis": {"templates": [{"templateName": "ab"}]}},
]


def _template(url: str) -> Obj:
    metric = {
        "name": "ab",
        "count": 3,
        "interval": "300ms",
        "successCondition": "result == 1",
        "provider": {"web": {"url": url, "jsonPath": "{$.ok}"}},
    }
    return {
        "apiVersion": models.API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {"name": "ab", "namespace": demo.NAMESPACE},
        "spec": {"metrics": [metric]},
    }


def _start(routed: Runtime, admin: Kube, check: Check) -> tuple[Demo, Obj]:
    podinfo = Demo(routed, admin)
    admin.create(_template(check.endpoint.url))
    admin.create(demo.deployment("podinfo:1"))
    git = create(admin, http_route())
    routing = {"managedRoutes": [{"name": "testers"}], "gatewayAPI": {"httpRoute": demo.NAME}}
    admin.create(rollout(routing, STEPS))  # as Argo Rollouts' users write it
    podinfo.wait(Stage.HEALTHY)
    return podinfo, git


def _sends(rule: Obj) -> list[tuple[str, Any]]:
    return [(ref["name"], ref.get("weight")) for ref in rule["backendRefs"]]


def test_the_canary_gets_only_matching_requests_then_is_promoted(
    routed: Runtime, admin: Kube, check: Check
) -> None:
    podinfo, git = _start(routed, admin, check)
    with Recorder(admin, GATEWAY, "httproutes", demo.NAME) as recorder:
        revision = podinfo.set_image("podinfo:2")
        podinfo.wait(Stage.HEALTHY, timeout=30, stable_revision=revision)
    assert check.endpoint.hits >= 3
    assert as_git_wrote(admin.get(GATEWAY, "httproutes", demo.NAMESPACE, demo.NAME) or {}) == (
        as_git_wrote(git)
    )
    during = [v for v in recorder.versions() if any(r.get("name") for r in v["spec"]["rules"])]
    assert during, "the header route was never added"
    for version in during:
        rules = {r.get("name"): r for r in version["spec"]["rules"]}
        header = rules["ferry-testers-0"]
        assert _sends(header) == [("podinfo-canary", 1)]  # its only backend (weight defaulted)
        assert header["matches"][0]["headers"] == [
            {"name": "X-Tester", "type": "Exact", "value": "1"}
        ]
        user = next(r for r in version["spec"]["rules"] if not r.get("name"))
        assert all(w == 0 for n, w in _sends(user) if n == "podinfo-canary")


def test_failing_measurements_abort_and_the_route_is_as_git_wrote_it(
    routed: Runtime, admin: Kube, check: Check
) -> None:
    podinfo, git = _start(routed, admin, check)
    check.ok = False
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.ABORTED, timeout=30)
    assert as_git_wrote(admin.get(GATEWAY, "httproutes", demo.NAMESPACE, demo.NAME) or {}) == (
        as_git_wrote(git)
    )
