"""The Gateway API router's edits of a route, as pure functions, over generated routes.

Covered with Hypothesis: for any route (rules with and without the stable Service, with or
without a canary reference, any weights, absent weights, other backends), what Ferry changed
can always be put back exactly; setting any weight and then 0 gives back exactly the route (the
record removed) if it sent nothing to the canary (else it then sends nothing); setting a weight
twice is the same as once; after setting w every rule to the Service sends w percent to the
canary, and the rules and references that do not send to the Service are untouched; a route
that already sends w percent is left as it is. Also the configuration's validation messages.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import models
from shared.routers import gatewayapi, splits

Obj = dict[str, Any]
ROLLOUT = models.parse(
    {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "targetRef": {"name": "web"},
            "service": {"name": "web", "port": 80},
            "trafficRouting": {"gatewayAPI": {"httpRoute": "web"}},
            "strategy": {"canary": {"steps": [{"setWeight": 10}]}},
        },
    }
)

weights = st.one_of(st.none(), st.integers(min_value=0, max_value=1000))


def _ref(name: str, weight: int | None) -> Obj:
    ref: Obj = {"name": name, "port": 80}
    if weight is not None:
        ref["weight"] = weight
    return ref


@st.composite
def rules(draw: st.DrawFn) -> Obj:
    refs = []
    if draw(st.booleans()):
        refs.append(_ref(draw(st.sampled_from(["web", "web-primary"])), draw(weights)))
        if draw(st.booleans()):
            refs.append(_ref("web-canary", draw(weights)))
    refs += [_ref(n, draw(weights)) for n in draw(st.lists(st.sampled_from(["cdn", "api"])))]
    refs = draw(st.permutations(refs))
    return {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": refs}


@st.composite
def routes(draw: st.DrawFn) -> Obj:
    annotations = draw(st.dictionaries(st.sampled_from(["team", "owner"]), st.text(max_size=5)))
    return {
        "apiVersion": gatewayapi.API_VERSION,
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "shop", "annotations": annotations},
        "spec": {"hostnames": ["web.local"], "rules": draw(st.lists(rules(), max_size=4))},
    }


def _share(rule: Obj, rollout: models.RolloutSpec) -> int:
    return splits.share(rule, gatewayapi.SHAPE, splits.services(rollout))


def _service_rules(route: Obj) -> list[Obj]:
    return [route["spec"]["rules"][i] for i in gatewayapi._rollout_rules(route, ROLLOUT)]


@settings(max_examples=300, deadline=None)
@given(routes(), st.integers(min_value=0, max_value=100))
def test_a_weight_then_zero_gives_the_route_back(route: Obj, weight: int) -> None:
    original = copy.deepcopy(route)
    changed = gatewayapi.weighted(route, ROLLOUT, weight)
    assert route == original  # pure
    assert gatewayapi.route_weight(changed, ROLLOUT) == (
        weight if gatewayapi._rollout_rules(route, ROLLOUT) else 0
    )
    assert gatewayapi.restored(changed, ROLLOUT) == original
    back = gatewayapi.weighted(changed, ROLLOUT, 0)
    shares = [_share(r, ROLLOUT) for r in _service_rules(original)]
    if all(share == 0 for share in shares):
        assert back == original  # at rest the route is exactly as it was written
    else:  # it sent some traffic to the canary by itself: not any more
        assert all(_share(r, ROLLOUT) == 0 for r in _service_rules(back))


@settings(max_examples=300, deadline=None)
@given(routes(), st.integers(min_value=0, max_value=100))
def test_setting_a_weight_is_idempotent_and_touches_only_the_services_rules(
    route: Obj, weight: int
) -> None:
    once = gatewayapi.weighted(route, ROLLOUT, weight)
    assert gatewayapi.weighted(once, ROLLOUT, weight) == once
    indexes = set(gatewayapi._rollout_rules(route, ROLLOUT))
    for i, (before, after) in enumerate(
        zip(route["spec"]["rules"], once["spec"]["rules"], strict=True)
    ):
        if i not in indexes:
            assert after == before
            continue
        assert _share(after, ROLLOUT) == weight
        others = [
            r
            for r in before["backendRefs"]
            if r["name"] not in ("web", "web-primary", "web-canary")
        ]
        assert [r for r in after["backendRefs"] if r in others] == others
    assert once["spec"]["hostnames"] == route["spec"]["hostnames"]
    user = {k: v for k, v in once["metadata"]["annotations"].items() if k != gatewayapi.MARK}
    assert user == route["metadata"]["annotations"]


def test_a_route_already_at_the_weight_is_left_as_it_is() -> None:
    rule = {"backendRefs": [_ref("web-primary", 80), _ref("web-canary", 20)]}
    route = {"metadata": {"name": "web"}, "spec": {"rules": [rule]}}
    assert gatewayapi.weighted(route, ROLLOUT, 20) == route
    assert gatewayapi._patch(route, gatewayapi.weighted(route, ROLLOUT, 20)) is None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "must name a route"),
        ({"httpRoute": ""}, "httpRoute must be a route's name"),
        ({"httpRoutes": []}, "httpRoutes must list at least one route"),
        ({"httpRoutes": [{"name": "a", "useHeaderRoutes": True}]}, "must be {name: ...}"),
        ({"httpRoute": "a", "httpRoutes": [{"name": "a"}]}, "names a route twice"),
        ({"namespace": "other", "httpRoute": "a"}, "namespace is not a field"),
        ("web", "must be an object"),
    ],
)
def test_configuration_problems_are_named(config: Any, message: str) -> None:
    found = gatewayapi.validate(config, "spec.trafficRouting.gatewayAPI")
    assert any(message in p for p in found), found


def test_a_valid_configuration_has_no_problem() -> None:
    config = {"httpRoutes": [{"name": "a"}, {"name": "b"}], "grpcRoute": "c"}
    assert gatewayapi.validate(config, "x") == []


HEADER = models.SetHeaderRoute(
    "testers", (models.HeaderMatch("X-Canary", models.StringMatch("prefix", "y.s")),)
)
MIRROR = models.SetMirrorRoute(
    "shadow", (models.RequestMatch(path=models.StringMatch("prefix", "/api")),), 30
)


@settings(max_examples=300, deadline=None)
@given(
    routes(),
    st.integers(min_value=0, max_value=100),
    st.lists(st.sampled_from([HEADER, MIRROR]), unique=True),
)
def test_added_routes_come_and_go_exactly(route: Obj, weight: int, added: list[Any]) -> None:
    original = copy.deepcopy(route)
    changed = splits.weighted(
        route, gatewayapi.SHAPE, splits.services(ROLLOUT), weight, tuple(added)
    )
    assert splits.restored(changed, gatewayapi.SHAPE, splits.services(ROLLOUT)) == original
    rules = changed["spec"]["rules"]
    ours = [r for r in rules if str(r.get("name", "")).startswith("ferry-")]
    indexes = gatewayapi._rollout_rules(original, ROLLOUT)
    assert len(ours) == len(added) * len(indexes)
    ferry = [str(r.get("name", "")).startswith("ferry-") for r in rules]
    for position, rule in enumerate(rules):  # each just before the user's rule it comes from
        if not ferry[position]:
            continue
        source = int(rule["name"].rsplit("-", 1)[1])
        user = next(q for q in range(position, len(rules)) if not ferry[q])
        assert ferry[:user].count(False) == source
    assert gatewayapi.route_weight(changed, ROLLOUT) == (weight if indexes else 0)
