"""The Gateway API router: weights on the backendRefs of the user's HTTPRoute or GRPCRoute.

Every Gateway API implementation (Envoy Gateway, NGINX Gateway Fabric, Istio, Contour, Traefik,
Kong, Linkerd, ...) splits a rule's traffic between its ``backendRefs`` by their ``weight``. The
routes are the user's (Git's): Ferry finds in each rule the reference to the stable Service
(``<service>-primary``, or the apex ``<service>``, which selects the same Pods), sets its weight
to ``100 - w`` and the canary's (``<service>-canary``) to ``w``, adding the canary reference if
the rule lacks it. Nothing else in the route is touched.

Before its first change to a route Ferry records, in the route's annotation :data:`MARK`, what
it changed (the original weights, whether it added the canary reference), so that at weight 0
it puts back exactly what was there and removes the annotation: at rest, after a promotion, an
abort or the Rollout's deletion, the route is as Git wrote it, and Argo CD or Flux see no
difference. Writes are merge patches conditional on the resourceVersion read
(``Kube.fenced_patch``): a user's concurrent edit of any other field is never overwritten, the
write is made again on the new version.

It never creates or deletes a route, and never writes a route the Rollout does not name.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from shared.kube import Kube
from shared.models import RolloutSpec
from shared.routers import Capability, NotReady, Want, full_size

Obj = dict[str, Any]
API_VERSION = "gateway.networking.k8s.io/v1"
CAPABILITIES = frozenset({Capability.WEIGHTS, Capability.ROUTES})
MARK = "ferry.dev/route-changes"
"""The annotation holding what Ferry changed in a route (JSON), removed when it is restored."""
KINDS = {"httpRoute": ("HTTPRoute", "httproutes"), "grpcRoute": ("GRPCRoute", "grpcroutes")}
"""The config keys naming one route of a kind (``httpRoutes``/``grpcRoutes`` name several)."""


@dataclass(frozen=True)
class Route:
    kind: str
    plural: str
    name: str


class RouteMissing(NotReady):
    """A route the Rollout names does not exist, or has no rule sending to its Service."""

    reason = "RouteNotFound"


def validate(config: Any, where: str) -> list[str]:
    """The problems of ``spec.trafficRouting.gatewayAPI`` (empty when valid)."""
    problems: list[str] = []
    _routes(config, where, problems)
    return problems


def _routes(config: Any, where: str, problems: list[str]) -> tuple[Route, ...]:
    if not isinstance(config, dict):
        problems.append(f"{where} must be an object")
        return ()
    known = {*KINDS, *(f"{key}s" for key in KINDS)}
    for key in sorted(set(config) - known):
        problems.append(f"{where}.{key} is not a field (known: {', '.join(sorted(known))})")
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


class GatewayApiRouter:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def _routes(self, rollout: RolloutSpec) -> tuple[Route, ...]:
        problems: list[str] = []
        routes = _routes(rollout.routing, "spec.trafficRouting.gatewayAPI", problems)
        if problems:
            raise ValueError("; ".join(problems))
        return routes

    def _get(self, rollout: RolloutSpec, route: Route) -> Obj | None:
        return self.kube.get(API_VERSION, route.plural, rollout.namespace, route.name)

    def reconcile(self, rollout: RolloutSpec, owner: Obj) -> None:
        """Check that every route exists and sends to the Service (the routes are the user's:
        nothing is created)."""
        for route in self._routes(rollout):
            obj = self._get(rollout, route)
            where = f"the {route.kind} {rollout.namespace}/{route.name}"
            if obj is None:
                raise RouteMissing(
                    f"{where} (spec.trafficRouting.gatewayAPI) does not exist; create it with a "
                    f"rule whose backendRefs include the Service {rollout.primary_service}"
                )
            if not _rollout_rules(obj, rollout):
                raise RouteMissing(
                    f"{where} has no rule sending to the Service {rollout.primary_service} or "
                    f"{rollout.service.name}; add one to its backendRefs"
                )

    def set_weight(self, rollout: RolloutSpec, want: Want) -> None:
        for route in self._routes(rollout):

            def change(current: Obj) -> Obj | None:
                weight = want(route_weight(current, rollout))
                if weight is None:
                    return None
                return _patch(current, weighted(current, rollout, weight))

            self.kube.fenced_patch(API_VERSION, route.plural, rollout.namespace, route.name, change)

    def get_weight(self, rollout: RolloutSpec) -> int | None:
        """The first route's canary weight, or the first that differs from it (so a drifted
        route shows); None if a route is missing."""
        weights = []
        for route in self._routes(rollout):
            obj = self._get(rollout, route)
            if obj is None:
                return None
            weights.append(route_weight(obj, rollout))
        return next((w for w in weights if w != weights[0]), weights[0]) if weights else None

    def canary_replicas(self, weight: int, stable: int) -> int:
        return full_size(weight, stable)

    def finalize(self, rollout: RolloutSpec) -> None:
        """Put back what Ferry changed in every route (the routes themselves stay)."""
        for route in self._routes(rollout):
            self.kube.fenced_patch(
                API_VERSION,
                route.plural,
                rollout.namespace,
                route.name,
                lambda current: _patch(current, restored(current, rollout)),
            )


def create(kube: Kube) -> GatewayApiRouter:
    return GatewayApiRouter(kube)


# -- the edits, pure functions of the route ------------------------------------------------


def _stable_names(rollout: RolloutSpec) -> tuple[str, str]:
    return (rollout.primary_service, rollout.service.name)


def _is_service(ref: Any, names: tuple[str, ...]) -> bool:
    return (
        isinstance(ref, dict)
        and ref.get("name") in names
        and ref.get("group", "") == ""
        and ref.get("kind", "Service") == "Service"
        and "namespace" not in ref
    )


def _rollout_rules(route: Obj, rollout: RolloutSpec) -> list[int]:
    """The indexes of the rules that send to the stable Service."""
    rules = (route.get("spec") or {}).get("rules") or []
    names = _stable_names(rollout)
    return [
        i
        for i, rule in enumerate(rules)
        if isinstance(rule, dict)
        and any(_is_service(ref, names) for ref in rule.get("backendRefs") or [])
    ]


def _refs(rule: Obj, rollout: RolloutSpec) -> tuple[Obj, Obj | None]:
    """The rule's stable and canary references (the canary's may be absent)."""
    refs = rule.get("backendRefs") or []
    stable = next(r for r in refs if _is_service(r, _stable_names(rollout)))
    canary = next((r for r in refs if _is_service(r, (rollout.canary_service,))), None)
    return stable, canary


def _share(rule: Obj, rollout: RolloutSpec) -> int:
    """The canary's percentage of the rule's traffic between the two references (a missing
    weight is 1, as the Gateway API defines it)."""
    stable, canary = _refs(rule, rollout)
    if canary is None:
        return 0
    s, c = int(stable.get("weight", 1)), int(canary.get("weight", 1))
    return round(100 * c / (s + c)) if s + c else 0


def route_weight(route: Obj, rollout: RolloutSpec) -> int:
    """The canary weight in effect in ``route``: that of the first rule that sends to the
    stable Service whose share differs from the first's (0 if none sends to it)."""
    rules = (route.get("spec") or {}).get("rules") or []
    shares = [_share(rules[i], rollout) for i in _rollout_rules(route, rollout)]
    return next((s for s in shares if s != shares[0]), shares[0]) if shares else 0


def _changes(route: Obj) -> dict[str, Obj]:
    raw = ((route.get("metadata") or {}).get("annotations") or {}).get(MARK)
    try:
        changes = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return changes if isinstance(changes, dict) else {}


def _set(ref: Obj, weight: Any) -> None:
    if weight is None:
        ref.pop("weight", None)
    else:
        ref["weight"] = weight


def restored(route: Obj, rollout: RolloutSpec) -> Obj:
    """``route`` with every change Ferry recorded put back and the record removed."""
    out = copy.deepcopy(route)
    rules = (out.get("spec") or {}).get("rules") or []
    for index, change in _changes(route).items():
        i = int(index) if index.isdigit() else -1
        if not 0 <= i < len(rules) or i not in _rollout_rules(out, rollout):
            continue  # the rule is gone or no longer sends to the Service: nothing to undo
        stable, canary = _refs(rules[i], rollout)
        _set(stable, change.get("stable"))
        if canary is not None and change.get("canaryAdded"):
            rules[i]["backendRefs"].remove(canary)
        elif canary is not None:
            _set(canary, change.get("canary"))
    (out.get("metadata") or {}).get("annotations", {}).pop(MARK, None)
    return out


def weighted(route: Obj, rollout: RolloutSpec, weight: int) -> Obj:
    """``route`` sending ``weight`` percent of each rollout rule's traffic to the canary: the
    route as Git wrote it when that is what it does already, else with the two references'
    weights set (and the changes recorded in :data:`MARK`)."""
    out = restored(route, rollout)
    rules = (out.get("spec") or {}).get("rules") or []
    indexes = _rollout_rules(out, rollout)
    if all(_share(rules[i], rollout) == weight for i in indexes):
        return out
    changes: dict[str, Obj] = {}
    for i in indexes:
        stable, canary = _refs(rules[i], rollout)
        change: Obj = {"stable": stable.get("weight")}
        if canary is None:
            canary = {k: v for k, v in stable.items() if k in ("group", "kind", "port")}
            canary["name"] = rollout.canary_service
            rules[i]["backendRefs"].append(canary)
            change["canaryAdded"] = True
        else:
            change["canary"] = canary.get("weight")
        stable["weight"], canary["weight"] = 100 - weight, weight
        changes[str(i)] = change
    meta = out.setdefault("metadata", {})
    meta.setdefault("annotations", {})[MARK] = json.dumps(changes, sort_keys=True)
    return out


def _patch(current: Obj, desired: Obj) -> Obj | None:
    """The merge patch from ``current`` to ``desired`` (they differ only in the rules and the
    :data:`MARK` annotation); None when equal. The rules list is replaced whole: the write is
    conditional on the version read, so nobody's edit in between is lost."""
    patch: Obj = {}
    now = (current.get("metadata") or {}).get("annotations") or {}
    then = (desired.get("metadata") or {}).get("annotations") or {}
    if now.get(MARK) != then.get(MARK):
        patch["metadata"] = {"annotations": {MARK: then.get(MARK)}}
    rules = (desired.get("spec") or {}).get("rules")
    if rules != (current.get("spec") or {}).get("rules"):
        patch["spec"] = {"rules": rules}
    return patch or None
