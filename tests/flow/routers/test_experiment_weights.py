"""An experiment step's templates with a ``weight`` get that share of live traffic (Argo's
"Weighted Experiment Step with Traffic Routing"), through every router that declares
per-backend weights: the Gateway API, Istio and SMI.

Covered, on the runtime with the upstream CRDs: while the step waits for its Experiment and the
Experiment runs, the route sends 5 % to each template's Service (on the rollout's port), taken
from the stable share; every version of the route is accepted by the upstream schema; once the
experiment ends the route is the canary's alone again, and after the promotion the user's route
is as Git wrote it. A router without the capability is refused with the routers that can.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from local import demo
from local.runtime import Runtime
from shared import models, routers
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, Recorder, eventually
from tests.flow.routers.conftest import (
    GATEWAY,
    ISTIO,
    as_git_wrote,
    create,
    gateway_weights,
    http_route,
    istio_weights,
    problems,
    rollout,
    virtual_service,
)

Obj = dict[str, Any]
SMI = "split.smi-spec.io/v1alpha2"
EXPERIMENT = {
    "experiment": {
        "duration": "3s",
        "templates": [
            {"name": "baseline", "specRef": "stable", "weight": 5},
            {"name": "canary", "specRef": "canary", "weight": 5},
        ],
    }
}
STEPS: list[Obj] = [{"setWeight": 20}, EXPERIMENT, {"pause": {}}]


def smi_weights(obj: Obj) -> list[list[tuple[str, Any]]]:
    return [[(b["service"], b["weight"]) for b in obj["spec"]["backends"]]]


class Case:
    """One router: its routing block, the user's route (None: the router owns its object),
    where the route is, how to read its weights and which CRD checks it."""

    def __init__(
        self,
        routing: Obj,
        route: Obj | None,
        where: tuple[str, str, str],
        weights: Callable[[Obj], list[list[tuple[str, Any]]]],
        crd: str,
    ) -> None:
        self.routing, self.route, self.where, self.weights, self.crd = (
            routing,
            route,
            where,
            weights,
            crd,
        )


CASES = {
    "gatewayAPI": Case(
        {"gatewayAPI": {"httpRoute": demo.NAME}},
        http_route(),
        (GATEWAY, "httproutes", demo.NAME),
        gateway_weights,
        "gateway-api/httproutes.yaml",
    ),
    "istio": Case(
        {"istio": {"virtualService": {"name": demo.NAME, "routes": ["primary"]}}},
        virtual_service(),
        (ISTIO, "virtualservices", demo.NAME),
        istio_weights,
        "istio/virtualservices.yaml",
    ),
    "smi": Case(
        {"smi": {}}, None, (SMI, "trafficsplits", demo.NAME), smi_weights, "smi/trafficsplits.yaml"
    ),
}


def first_rule(case: Case, admin: Kube) -> list[tuple[str, Any]]:
    found = admin.get(*case.where[:2], demo.NAMESPACE, case.where[2])
    assert found is not None
    return case.weights(found)[0]


def short(name: str) -> str:
    """A destination as its Service's name (Istio's hosts may be fully qualified)."""
    return name.split(".")[0]


@pytest.mark.parametrize("router", sorted(CASES))
def test_weighted_templates_get_their_share_while_the_experiment_runs(
    routed: Runtime, admin: Kube, router: str
) -> None:
    case = CASES[router]
    podinfo = Demo(routed, admin)
    admin.create(demo.deployment("podinfo:1"))
    git = create(admin, case.route) if case.route is not None else None
    admin.create(rollout(case.routing, STEPS))
    podinfo.wait(Stage.HEALTHY)
    with Recorder(admin, *case.where[:2], case.where[2]) as recorder:
        podinfo.set_image("podinfo:2")
        waiting = podinfo.wait(Stage.ANALYZING, step=1, timeout=20)
        name = f"{demo.NAME}-{waiting.canary_revision[:7]}-{waiting.attempt}-1"

        def shared() -> list[tuple[str, Any]] | None:
            found = [(short(s), w) for s, w in first_rule(case, admin)]
            return found if len(found) == 4 else None

        during = eventually(shared, timeout=20, what="the experiment's templates routed")
        assert sorted(during) == sorted(
            [
                ("podinfo-primary", 70),
                ("podinfo-canary", 20),
                (f"{name}-baseline", 5),
                (f"{name}-canary", 5),
            ]
        )
        live = admin.rollout(demo.NAMESPACE, demo.NAME)
        assert live is not None  # the canary's weight reads back as 20 with the backends there
        assert routers.get(models.router_name(live), admin).get_weight(models.parse(live)) == 20
        services = {
            s["metadata"]["name"]: s for s in admin.list_of("v1", "services", demo.NAMESPACE)
        }
        for template in ("baseline", "canary"):
            service = services[f"{name}-{template}"]  # on the rollout's port, like the others
            assert (
                service["spec"]["ports"][0]["port"]
                == services["podinfo-canary"]["spec"]["ports"][0]["port"]
            )
        podinfo.wait(Stage.PAUSED, step=2, timeout=30)
        after = [(short(s), w) for s, w in first_rule(case, admin)]
        assert sorted(after) == [("podinfo-canary", 20), ("podinfo-primary", 80)]
        podinfo.command("promote")
        podinfo.wait(Stage.HEALTHY, stable_revision=waiting.canary_revision, timeout=30)
    for version in recorder.versions():
        assert problems(version, case.crd) == [], version
    if git is not None:
        found = admin.get(*case.where[:2], demo.NAMESPACE, case.where[2])
        assert found is not None and as_git_wrote(found) == as_git_wrote(git)


def test_a_router_without_backends_refuses_weighted_templates() -> None:
    obj = demo.rollout(STEPS)
    spec = models.parse(obj)
    found = routers.validate(spec.router, spec.routing, spec.steps, spec.step_where)
    assert found == [
        "spec.strategy.canary.steps[1].experiment: the nginx router cannot give an "
        "experiment's templates a share of traffic (weight; routers that can: gatewayAPI, "
        "istio, smi); without weight they get none"
    ]
    too_much = demo.rollout([{"setWeight": 95}, EXPERIMENT])
    with pytest.raises(models.InvalidSpec, match=r"\(10%\) and the canary's \(95%\)"):
        models.parse(too_much)


def test_an_abort_takes_the_templates_out_of_the_route_at_once(
    routed: Runtime, admin: Kube
) -> None:
    case = CASES["smi"]
    podinfo = Demo(routed, admin)
    admin.create(demo.deployment("podinfo:1"))
    endless = {"experiment": {**EXPERIMENT["experiment"], "duration": "1h"}}
    admin.create(rollout(case.routing, [{"setWeight": 20}, endless]))
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.ANALYZING, step=1, timeout=20)
    eventually(lambda: len(first_rule(case, admin)) == 4, timeout=20, what="templates routed")
    podinfo.command("abort")
    podinfo.wait(Stage.ABORTED, timeout=20)
    assert first_rule(case, admin) == [("podinfo-primary", 100), ("podinfo-canary", 0)]
