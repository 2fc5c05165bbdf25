"""Header and mirror route steps: parsing, which routes are in effect, what routers refuse.

Covered: ``setHeaderRoute`` and ``setMirrorRoute`` parse into their steps (Argo Rollouts'
fields), a step without ``match`` removes its route; every malformed field is named; a route
name used by both kinds is refused; the routes in effect after each step (set in place, set
last, removed) and a changed spec's indexes dropped; a router without the capability refuses
the step by index, naming the routers that can; nginx refuses two header routes at once or two
headers in one; the Gateway API refuses a method it cannot match; Argo Rollouts'
``managedRoutes`` is accepted beside the router and a step's route must be listed in it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from shared import models, routers

HEADER = {"name": "testers", "match": [{"headerName": "X-Canary", "headerValue": {"exact": "yes"}}]}
MIRROR = {"name": "shadow", "percentage": 30, "match": [{"path": {"prefix": "/api"}}]}


def parse(steps: list[dict[str, Any]], routing: dict[str, Any] | None = None) -> models.RolloutSpec:
    return models.parse(
        {
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "targetRef": {"name": "web"},
                "service": {"name": "web", "port": 80},
                "trafficRouting": routing or {"gatewayAPI": {"httpRoute": "web"}},
                "strategy": {"canary": {"steps": steps}},
            },
        }
    )


def test_route_steps_parse() -> None:
    spec = parse(
        [
            {"setHeaderRoute": HEADER},
            {"setMirrorRoute": MIRROR},
            {"setHeaderRoute": {"name": "testers"}},
        ]
    )
    exact = models.StringMatch("exact", "yes")
    assert spec.steps == (
        models.SetHeaderRoute("testers", (models.HeaderMatch("X-Canary", exact),)),
        models.SetMirrorRoute(
            "shadow", (models.RequestMatch(path=models.StringMatch("prefix", "/api")),), 30
        ),
        models.SetHeaderRoute("testers"),
    )


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ({"setHeaderRoute": {"name": "Bad_Name"}}, "name must be a DNS label"),
        ({"setHeaderRoute": {"name": "a", "match": []}}, "must list at least one"),
        (
            {"setHeaderRoute": {"name": "a", "match": [{"headerName": "x", "headerValue": {}}]}},
            "headerValue must have exactly one of exact, prefix, regex",
        ),
        (
            {
                "setHeaderRoute": {
                    "name": "a",
                    "match": [{"headerName": "x y", "headerValue": {"exact": "1"}}],
                }
            },
            "headerName must be an HTTP header name",
        ),
        (
            {
                "setHeaderRoute": {
                    "name": "a",
                    "match": [{"headerName": "x", "headerValue": {"regex": "("}}],
                }
            },
            "regex is not a regular expression",
        ),
        (
            {"setMirrorRoute": {"name": "a", "percentage": 0}},
            "percentage must be an integer from 1",
        ),
        (
            {"setMirrorRoute": {"name": "a", "match": [{"query": {}}]}},
            "some of headers, method, path",
        ),
        ({"setMirrorRoute": {"name": "a", "weight": 3}}, "must be {match, name, percentage}"),
    ],
)
def test_malformed_route_steps_are_named(step: dict[str, Any], problem: str) -> None:
    with pytest.raises(models.InvalidSpec) as info:
        parse([step])
    assert problem in str(info.value)


def test_a_name_is_one_kind_of_route() -> None:
    with pytest.raises(models.InvalidSpec) as info:
        parse([{"setHeaderRoute": HEADER}, {"setMirrorRoute": {**MIRROR, "name": "testers"}}])
    assert "names a setHeaderRoute route already" in str(info.value)


def test_the_routes_in_effect_after_each_step() -> None:
    spec = parse(
        [
            {"setHeaderRoute": HEADER},
            {"setMirrorRoute": MIRROR},
            {
                "setHeaderRoute": {
                    **HEADER,
                    "match": [{"headerName": "X-B", "headerValue": {"prefix": "b"}}],
                }
            },
            {"setHeaderRoute": {"name": "testers"}},
        ]
    )
    active: tuple[int, ...] = ()
    seen = []
    for index in range(len(spec.steps)):
        active = models.routes_after(spec.steps, active, index)
        seen.append(active)
    assert seen == [(0,), (0, 1), (2, 1), (1,)]
    assert models.routes_at(spec.steps, (2, 1)) == (spec.steps[2], spec.steps[1])
    assert models.routes_at(spec.steps, (3, 7)) == ()  # not a route set, or gone from the spec


def test_a_router_without_the_capability_refuses_the_step_by_index() -> None:
    spec = parse(
        [{"setWeight": 5}, {"setMirrorRoute": MIRROR}], {"nginx": {"stableIngress": "web"}}
    )
    problems = routers.validate(spec.router, spec.routing, spec.steps)
    assert problems == [
        "spec.strategy.canary.steps[1].setMirrorRoute: the nginx router cannot mirror traffic "
        "(routers that can: gatewayAPI, istio)"
    ]
    smi = parse([{"setHeaderRoute": HEADER}], {"smi": {}})
    assert (
        "the smi router cannot route by header (routers that can: gatewayAPI, istio, nginx)"
        in (routers.validate(smi.router, smi.routing, smi.steps)[0])
    )


def test_nginx_has_one_header_route_of_one_header() -> None:
    two = {
        "name": "two",
        "match": [HEADER["match"][0], {"headerName": "X-B", "headerValue": {"exact": "1"}}],
    }
    spec = parse(
        [{"setHeaderRoute": HEADER}, {"setHeaderRoute": two}], {"nginx": {"stableIngress": "web"}}
    )
    problems = routers.validate(spec.router, spec.routing, spec.steps)
    assert any("matches one header, not 2" in p for p in problems)
    assert any("one setHeaderRoute at a time, and 'testers' is still set" in p for p in problems)
    fine = parse(
        [
            {"setHeaderRoute": HEADER},
            {"setHeaderRoute": {"name": "testers"}},
            {"setHeaderRoute": {**HEADER, "name": "b"}},
        ],
        {"nginx": {"stableIngress": "web"}},
    )
    assert routers.validate(fine.router, fine.routing, fine.steps) == []


def test_the_gateway_api_matches_exact_methods_only() -> None:
    step = {
        "setMirrorRoute": {
            "name": "m",
            "match": [{"method": {"prefix": "G"}}, {"path": {"exact": "api"}}],
        }
    }
    spec = parse([step])
    problems = routers.validate(spec.router, spec.routing, spec.steps)
    assert any("matches an exact method only" in p for p in problems)
    assert any("path must start with /" in p for p in problems)


def test_a_cookie_route_parses_and_is_a_match_on_the_cookie_header() -> None:
    spec = parse(
        [
            {"setCookieRoute": {"name": "beta", "cookieName": "canary"}},
            {"setCookieRoute": {"name": "beta"}},
            {"setCookieRoute": {"name": "vip", "cookieName": "tier", "value": "gold"}},
        ]
    )
    beta, removed, vip = spec.steps
    assert beta == models.SetCookieRoute("beta", "canary", "always")
    assert removed == models.SetCookieRoute("beta") and removed.match == ()
    ((header,),) = (beta.match,)
    assert header.name == "Cookie" and header.value.kind == "regex"
    pattern = re.compile(header.value.value)
    for cookie in (
        "canary=always",
        "a=1; canary=always",
        "canary=always; b=2",
        "x=y;canary=always",
    ):
        assert pattern.match(cookie), cookie
    for cookie in ("canary=never", "notcanary=always", "canary=alwaysx", "a=canary=always"):
        assert not pattern.match(cookie), cookie
    assert re.compile(vip.match[0].value.value).match("tier=gold")


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ({"setCookieRoute": {"name": "a", "cookieName": "has space"}}, "cookieName must be"),
        ({"setCookieRoute": {"name": "a", "cookieName": "c", "value": ""}}, "value must be"),
        ({"setCookieRoute": {"name": "a", "match": []}}, "must be {cookieName, name, value}"),
    ],
)
def test_malformed_cookie_routes_are_named(step: dict[str, Any], problem: str) -> None:
    with pytest.raises(models.InvalidSpec) as info:
        parse([step])
    assert problem in str(info.value)


def test_nginx_cookies_are_always_and_one_at_a_time_and_smi_has_none() -> None:
    nginx = {"nginx": {"stableIngress": "web"}}
    gold = parse([{"setCookieRoute": {"name": "a", "cookieName": "c", "value": "gold"}}], nginx)
    assert any(
        "when its value is always, not 'gold'" in p
        for p in routers.validate(gold.router, gold.routing, gold.steps)
    )
    two = parse(
        [
            {"setCookieRoute": {"name": "a", "cookieName": "c"}},
            {"setCookieRoute": {"name": "b", "cookieName": "d"}},
        ],
        nginx,
    )
    assert any(
        "one setCookieRoute at a time" in p
        for p in routers.validate(two.router, two.routing, two.steps)
    )
    both = parse(
        [{"setHeaderRoute": HEADER}, {"setCookieRoute": {"name": "b", "cookieName": "d"}}], nginx
    )
    assert routers.validate(both.router, both.routing, both.steps) == []
    smi = parse([{"setCookieRoute": {"name": "a", "cookieName": "c"}}], {"smi": {}})
    assert routers.validate(smi.router, smi.routing, smi.steps) == [
        "spec.strategy.canary.steps[0].setCookieRoute: the smi router cannot route by cookie "
        "(routers that can: gatewayAPI, istio, nginx)"
    ]


def test_argo_managed_routes_are_accepted_and_checked() -> None:
    """Argo Rollouts' ``trafficRouting.managedRoutes``: beside the router, not a router; when
    given, every route a step sets must be listed."""
    routing = {
        "managedRoutes": [{"name": "testers"}, {"name": "shadow"}],
        "gatewayAPI": {"httpRoute": "web"},
    }
    spec = parse([{"setHeaderRoute": HEADER}, {"setMirrorRoute": MIRROR}], routing)
    assert spec.router == "gatewayAPI" and spec.routing == {"httpRoute": "web"}
    assert models.router_name({"spec": {"trafficRouting": routing}}) == "gatewayAPI"
    with pytest.raises(models.InvalidSpec) as missing:
        parse([{"setHeaderRoute": HEADER}], {**routing, "managedRoutes": [{"name": "shadow"}]})
    assert (
        "spec.strategy.canary.steps[0].setHeaderRoute.name 'testers' is not listed in "
        "spec.trafficRouting.managedRoutes"
    ) in str(missing.value)
    with pytest.raises(models.InvalidSpec) as malformed:
        parse([], {**routing, "managedRoutes": ["testers"]})
    assert "spec.trafficRouting.managedRoutes must list routes as [{name: ...}]" in str(
        malformed.value
    )
    with pytest.raises(models.InvalidSpec) as only:
        parse([], {"managedRoutes": [{"name": "testers"}]})
    assert "spec.trafficRouting must name exactly one router" in str(only.value)


def test_istio_tcp_and_tls_routes_are_validated() -> None:
    def problems(virtual_service: dict[str, Any]) -> list[str]:
        return routers.validate("istio", {"virtualService": {"name": "web", **virtual_service}})

    assert problems({"tcpRoutes": [{"port": 27017}], "tlsRoutes": [{"port": 443}]}) == []
    assert problems({"tcpRoutes": [{"port": 0}]}) == [
        "spec.trafficRouting.istio.virtualService.tcpRoutes[0] must be {port: 1-65535}"
    ]
    assert problems({"tlsRoutes": [{"port": 443, "sniHosts": "a"}]}) == [
        "spec.trafficRouting.istio.virtualService.tlsRoutes[0] must be "
        "{port: 1-65535, sniHosts: [...]}"
    ]
    assert problems({"tcpRoutes": [{"port": True}]})  # a bool is no port
