"""The Gateway API router: weights on the backendRefs of the user's HTTPRoute or GRPCRoute.

Every Gateway API implementation (Envoy Gateway, NGINX Gateway Fabric, Istio, Contour, Traefik,
Kong, Linkerd, ...) splits a rule's traffic between its ``backendRefs`` by their ``weight``. The
routes are the user's (Git's): Ferry finds in each rule the reference to the stable Service
(``<service>-primary``, or the apex ``<service>``, which selects the same Pods), sets its weight
to ``100 - w`` and the canary's (``<service>-canary``) to ``w``, adding the canary reference if
the rule lacks it. Nothing else in the route is touched.

Before its first change to a route Ferry records, in the route's annotation :data:`MARK`, what
it changed (the original weights, whether it added the canary reference; ``splits``), so that
at weight 0 it puts back exactly what was there and removes the annotation: at rest, after a
promotion, an abort or the Rollout's deletion, the route is as Git wrote it, and Argo CD or
Flux see no difference. Writes are merge patches conditional on the resourceVersion read
(``Kube.fenced_patch``): a user's concurrent edit of any other field is never overwritten, the
write is made again on the new version.

It never creates or deletes a route, and never writes a route the Rollout does not name.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from shared.kube import Kube
from shared.models import (
    ROUTE_STEPS,
    HeaderMatch,
    RolloutSpec,
    SetHeaderRoute,
    SetMirrorRoute,
    Step,
    StringMatch,
)
from shared.routers import (
    Capability,
    Found,
    NotReady,
    Traffic,
    Written,
    edited,
    splits,
    unknown_fields,
)
from shared.routers.edited import EditedRoutes, Target, configured

Obj = dict[str, Any]
API_VERSION = "gateway.networking.k8s.io/v1"
CAPABILITIES = frozenset(
    {
        Capability.WEIGHTS,
        Capability.HEADERS,
        Capability.COOKIES,
        Capability.MIRROR,
        Capability.ROUTES,
        Capability.BACKENDS,
    }
)
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
MARK = splits.MARK
KINDS = {"httpRoute": ("HTTPRoute", "httproutes"), "grpcRoute": ("GRPCRoute", "grpcroutes")}
"""The config keys naming one route of a kind (``httpRoutes``/``grpcRoutes`` name several)."""


@dataclass(frozen=True)
class Route:
    kind: str
    plural: str
    name: str


MAX_RULES = 16
"""Rules per HTTPRoute or GRPCRoute (the Gateway API's ``maxItems``)."""


class RouteTooLong(NotReady):
    """The rules Ferry would add would take a route past :data:`MAX_RULES`."""

    reason = "RouteTooLong"


class RouteMissing(NotReady):
    """A route the Rollout names does not exist, or has no rule sending to its Service."""

    reason = "RouteNotFound"


def validate(config: Any, where: str) -> list[str]:
    """The problems of ``spec.trafficRouting.gatewayAPI`` (empty when valid)."""
    problems: list[str] = []
    _routes(config, where, problems)
    return problems


def _routes(config: Any, where: str, problems: list[str]) -> tuple[Route, ...]:
    known = {*KINDS, *(f"{key}s" for key in KINDS)}
    problems += unknown_fields(config, where, tuple(sorted(known)))
    if not isinstance(config, dict):
        return ()
    routes: list[Route] = []
    for key, (kind, plural) in KINDS.items():
        if key in config:
            routes.append(Route(kind, plural, _route_name(config[key], f"{where}.{key}", problems)))
        many = config.get(f"{key}s")
        if many is None:
            continue
        if not isinstance(many, list) or not many:
            problems.append(f"{where}.{key}s must list at least one route")
            continue
        for i, item in enumerate(many):
            at = f"{where}.{key}s[{i}]"
            if isinstance(item, dict):
                if set(item) != {"name"}:
                    problems.append(f"{at} must be {{name: ...}}")
                    continue
                item = item["name"]
            routes.append(Route(kind, plural, _route_name(item, f"{at}.name", problems)))
    if not routes and isinstance(config, dict) and not set(config) - known:
        problems.append(
            f"{where} must name a route: httpRoute, httpRoutes, grpcRoute or grpcRoutes"
        )
    if len(set(routes)) != len(routes):
        problems.append(f"{where} names a route twice")
    return tuple(routes)


def _route_name(value: Any, where: str, problems: list[str]) -> str:
    if not isinstance(value, str) or not value:
        problems.append(f"{where} must be a route's name")
        return ""
    return value


def _targets(rollout: RolloutSpec) -> list[Target]:
    routes = configured(_routes, rollout, "spec.trafficRouting.gatewayAPI")
    rules = ("spec", "rules")
    return [Target(API_VERSION, r.plural, r.kind, r.name, SHAPE, rules) for r in routes]


def preview(rollout: RolloutSpec, traffic: Traffic, found: Found) -> list[Written]:
    """The routes as this router edits them for ``traffic`` (``kubectl ferry plan``); a route
    not given stands as one rule sending to ``<service>-primary``."""

    def stand_in(kind: str, name: str) -> Obj:
        ref = {"name": rollout.primary_service, "port": rollout.service.port}
        return {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {"name": name, "namespace": rollout.namespace},
            "spec": {"rules": [{"backendRefs": [ref]}]},
        }

    return edited.preview(_targets(rollout), rollout, traffic, found, stand_in)


class GatewayApiRouter(EditedRoutes):
    def targets(self, rollout: RolloutSpec) -> list[Target]:
        return _targets(rollout)

    def check(self, rollout: RolloutSpec, target: Target, obj: Obj | None) -> None:
        """The route exists and sends to the Service."""
        where = f"the {target.kind} {rollout.namespace}/{target.name}"
        if obj is None:
            raise RouteMissing(
                f"{where} (spec.trafficRouting.gatewayAPI) does not exist; create it with a "
                f"rule whose backendRefs include the Service {rollout.primary_service}"
            )
        rollout_rules = _rollout_rules(obj, rollout)
        if not rollout_rules:
            raise RouteMissing(
                f"{where} has no rule sending to the Service {rollout.primary_service} or "
                f"{rollout.service.name}; add one to its backendRefs"
            )
        routes = {s.name for s in rollout.steps if isinstance(s, ROUTE_STEPS) and s.match}
        own = len(splits.restored(obj, SHAPE, splits.services(rollout))["spec"]["rules"])
        most = own + len(routes) * len(rollout_rules)
        if most > MAX_RULES:
            raise RouteTooLong(
                f"{where} has {own} rules, and the {len(routes)} header, cookie and mirror "
                f"routes of the steps add one before each of its {len(rollout_rules)} rules to "
                f"the Service: {most}, past the Gateway API's {MAX_RULES} rules per route; "
                "split the route, or name fewer routes in the steps"
            )


def create(kube: Kube) -> GatewayApiRouter:
    return GatewayApiRouter(kube)


# -- the edits: splits over the shape of a Gateway API route -------------------------------


def _rules(route: Obj) -> list[Obj]:
    spec = route.get("spec")
    rules = spec.get("rules") if isinstance(spec, dict) else None
    return rules if isinstance(rules, list) else []


def _service(ref: Obj) -> str | None:
    """The Service a backendRef names, if it is a plain one in the route's namespace."""
    plain = ref.get("group", "") == "" and ref.get("kind", "Service") == "Service"
    name = ref.get("name")
    return name if plain and "namespace" not in ref and isinstance(name, str) else None


def _canary(stable: Obj, name: str) -> Obj:
    return {**{k: v for k, v in stable.items() if k in ("group", "kind", "port")}, "name": name}


def _header(match: HeaderMatch) -> Obj:
    """A header match: Exact, or a RegularExpression (a prefix is ``^`` and the escaped
    prefix; the dialect is the implementation's, RE2 for Envoy-based ones)."""
    value = match.value
    if value.kind == "exact":
        return {"name": match.name, "type": "Exact", "value": value.value}
    pattern = "^" + re.escape(value.value) if value.kind == "prefix" else value.value
    return {"name": match.name, "type": "RegularExpression", "value": pattern}


def _path(match: StringMatch) -> Obj:
    kinds = {"exact": "Exact", "prefix": "PathPrefix", "regex": "RegularExpression"}
    return {"type": kinds[match.kind], "value": match.value}


def _matches(rule: Obj) -> list[Obj]:
    """The rule's matches (a rule without any matches every request, as ``/`` does)."""
    found = rule.get("matches")
    return copy.deepcopy(found) if found else [{"path": {"type": "PathPrefix", "value": "/"}}]


def _carried(rule: Obj) -> Obj:
    """What of the user's rule an added rule keeps: its filters and timeouts."""
    return {k: copy.deepcopy(v) for k, v in rule.items() if k in ("filters", "timeouts")}


def _header_rule(rule: Obj, route: SetHeaderRoute, canary: Obj) -> Obj:
    headers = [_header(h) for h in route.match]
    matches = [{**m, "headers": [*(m.get("headers") or []), *headers]} for m in _matches(rule)]
    return {**_carried(rule), "matches": matches, "backendRefs": [canary]}


def _mirror_rule(rule: Obj, route: SetMirrorRoute, canary: Obj) -> Obj:
    matches = []
    for base in _matches(rule):
        for want in route.match:
            match = copy.deepcopy(base)
            if want.path is not None:
                match["path"] = _path(want.path)
            if want.method is not None:
                match["method"] = want.method.value
            if want.headers:
                match["headers"] = [*(match.get("headers") or []), *map(_header, want.headers)]
            matches.append(match)
    mirror = {k: v for k, v in canary.items() if k in ("group", "kind", "name", "port")}
    filters = [
        *(copy.deepcopy(rule.get("filters")) or []),
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": mirror, "percent": route.percentage},
        },
    ]
    return {
        **_carried(rule),
        "matches": matches,
        "filters": filters,
        "backendRefs": copy.deepcopy(rule.get("backendRefs") or []),
    }


SHAPE = splits.Shape(
    _rules,
    "backendRefs",
    _service,
    _canary,
    default_weight=1,
    header_rule=_header_rule,
    mirror_rule=_mirror_rule,
)
"""A missing weight is 1, as the Gateway API defines it."""


def validate_steps(steps: tuple[Step, ...]) -> list[str]:
    """What the Gateway API cannot match: a method other than an exact HTTP method, a path
    that is not absolute."""
    problems = []
    for i, step in enumerate(steps):
        if not isinstance(step, SetMirrorRoute):
            continue
        for j, match in enumerate(step.match):
            at = f"spec.strategy.canary.steps[{i}].setMirrorRoute.match[{j}]"
            if match.method is not None and (
                match.method.kind != "exact" or match.method.value not in METHODS
            ):
                problems.append(
                    f"{at}.method: the Gateway API matches an exact method only "
                    f"({', '.join(METHODS)})"
                )
            if (
                match.path is not None
                and match.path.kind != "regex"
                and not match.path.value.startswith("/")
            ):
                problems.append(f"{at}.path must start with / for the Gateway API")
    return problems


def route_weight(route: Obj, rollout: RolloutSpec) -> int:
    return splits.route_weight(route, SHAPE, splits.services(rollout))


def weighted(route: Obj, rollout: RolloutSpec, weight: int) -> Obj:
    return splits.weighted(route, SHAPE, splits.services(rollout), weight)


def restored(route: Obj, rollout: RolloutSpec) -> Obj:
    return splits.restored(route, SHAPE, splits.services(rollout))


def _rollout_rules(route: Obj, rollout: RolloutSpec) -> list[int]:
    return splits.rollout_rules(route, SHAPE, splits.services(rollout))


def _patch(current: Obj, desired: Obj) -> Obj | None:
    return splits.patch(current, desired, ("spec", "rules"))
