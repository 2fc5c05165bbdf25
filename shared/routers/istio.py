"""The Istio router: weights on the destinations of the user's VirtualService HTTP routes.

Argo Rollouts' shape: ``istio: {virtualService: {name, routes: [...]}}`` (or
``virtualServices: [{name, routes}]``). Host-level splitting: in each HTTP route of the
VirtualService that sends to the stable Service (host ``<service>-primary`` or the apex
``<service>``, short or fully qualified in the Rollout's namespace) and that ``routes`` names
(all of them when it names none), Ferry sets the stable destination's weight to ``100 - w`` and
the canary's (host ``<service>-canary``, added in the same form if missing) to ``w``. What it
changed is recorded in the VirtualService's annotation and put back exactly at weight 0
(``splits``): at rest the VirtualService is as Git wrote it. A header route is an HTTP route
Ferry adds just before the user's, with the header matches added to its matches and the canary
as its only destination; a mirror route one with the user's destinations and ``mirror`` +
``mirrorPercentage`` to the canary (Istio evaluates routes in order, so nothing another route
would have taken is caught). Writes are merge patches
conditional on the resourceVersion read. It is written as ``networking.istio.io/v1``.

Subset-level splitting (``destinationRule``) is refused as an InvalidSpec for now: Ferry's
revisions run as separate Deployments behind separate Services, which host-level routes
reach. It never creates or deletes a VirtualService, and never writes one the Rollout does not
name.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from shared.kube import Kube
from shared.models import RolloutSpec, SetHeaderRoute, SetMirrorRoute, StringMatch
from shared.routers import Capability, NotReady, splits, unknown_fields
from shared.routers.edited import EditedRoutes, Target, configured

Obj = dict[str, Any]
API_VERSION = "networking.istio.io/v1"
PLURAL = "virtualservices"
CAPABILITIES = frozenset(
    {
        Capability.WEIGHTS,
        Capability.HEADERS,
        Capability.COOKIES,
        Capability.MIRROR,
        Capability.ROUTES,
    }
)
FIELDS = ("virtualService", "virtualServices", "destinationRule")
MARK = splits.MARK


@dataclass(frozen=True)
class VirtualService:
    name: str
    routes: tuple[str, ...] = ()
    """The HTTP routes (by name) whose weights Ferry sets; empty: every one that sends to the
    stable Service."""


class VirtualServiceNotReady(NotReady):
    """A VirtualService the Rollout names is missing, or does not route as needed."""

    reason = "VirtualServiceNotReady"


def validate(config: Any, where: str) -> list[str]:
    """The problems of ``spec.trafficRouting.istio`` (empty when valid)."""
    problems: list[str] = []
    _services(config, where, problems)
    return problems


def _services(config: Any, where: str, problems: list[str]) -> tuple[VirtualService, ...]:
    problems += unknown_fields(config, where, FIELDS)
    if not isinstance(config, dict):
        return ()
    if "destinationRule" in config:
        problems.append(
            f"{where}.destinationRule: subset-level splitting is not supported by Ferry's istio "
            "router; leave it out and route to the hosts <service>-primary and <service>-canary "
            "(host-level splitting)"
        )
    found: list[VirtualService] = []
    if "virtualService" in config:
        found.append(_one(config["virtualService"], f"{where}.virtualService", problems))
    many = config.get("virtualServices")
    if many is not None:
        if not isinstance(many, list) or not many:
            problems.append(f"{where}.virtualServices must list at least one VirtualService")
        else:
            for i, item in enumerate(many):
                found.append(_one(item, f"{where}.virtualServices[{i}]", problems))
    if not found and not problems:
        problems.append(f"{where} must name a VirtualService (virtualService or virtualServices)")
    if len({vs.name for vs in found}) != len(found):
        problems.append(f"{where} names a VirtualService twice")
    return tuple(found)


def _one(raw: Any, where: str, problems: list[str]) -> VirtualService:
    if not isinstance(raw, dict) or set(raw) - {"name", "routes"}:
        problems.append(f"{where} must be {{name: ..., routes: [...]}}")
        return VirtualService("")
    name, routes = raw.get("name"), raw.get("routes", [])
    if not isinstance(name, str) or not name:
        problems.append(f"{where}.name must be a VirtualService's name")
        name = ""
    if not isinstance(routes, list) or not all(isinstance(r, str) and r for r in routes):
        problems.append(f"{where}.routes must list HTTP route names")
        routes = []
    return VirtualService(name, tuple(routes))


def _hosts(name: str, namespace: str) -> tuple[str, ...]:
    """The forms of a Service's host in a destination."""
    return (
        name,
        f"{name}.{namespace}",
        f"{name}.{namespace}.svc",
        f"{name}.{namespace}.svc.cluster.local",
    )


def shape(rollout: RolloutSpec, vs: VirtualService) -> splits.Shape:
    """Where a VirtualService keeps its weights, for this Rollout's Services."""
    known = {
        host: name
        for name in (rollout.primary_service, rollout.service.name, rollout.canary_service)
        for host in _hosts(name, rollout.namespace)
    }

    def rules(obj: Obj) -> list[Obj]:
        spec = obj.get("spec")
        http = spec.get("http") if isinstance(spec, dict) else None
        return http if isinstance(http, list) else []

    def service(ref: Obj) -> str | None:
        destination = ref.get("destination")
        if not isinstance(destination, dict) or "subset" in destination:
            return None
        return known.get(str(destination.get("host")))

    def canary(stable: Obj, name: str) -> Obj:
        host = str(stable["destination"]["host"])
        suffix = host[len(service(stable) or "") :]
        destination: Obj = {"host": name + suffix}
        if "port" in stable["destination"]:
            destination["port"] = stable["destination"]["port"]
        return {"destination": destination}

    def selected(rule: Obj) -> bool:
        return not vs.routes or rule.get("name") in vs.routes

    return splits.Shape(
        rules,
        "route",
        service,
        canary,
        default_weight=0,
        selected=selected,
        header_rule=_header_rule,
        mirror_rule=_mirror_rule,
    )


def _string(match: StringMatch) -> Obj:
    return {match.kind: match.value}


def _carried(rule: Obj) -> Obj:
    """What of the user's route an added route keeps: all but its name, matches, destinations
    and mirrors."""
    dropped = {"name", "match", "route", "mirror", "mirrors", "mirrorPercentage"}
    return {k: copy.deepcopy(v) for k, v in rule.items() if k not in dropped}


def _header_rule(rule: Obj, route: SetHeaderRoute, canary: Obj) -> Obj:
    headers = {h.name.lower(): _string(h.value) for h in route.match}
    matches = [
        {**m, "headers": {**(m.get("headers") or {}), **headers}}
        for m in copy.deepcopy(rule.get("match") or [{}])
    ]
    return {**_carried(rule), "match": matches, "route": [canary]}


def _mirror_rule(rule: Obj, route: SetMirrorRoute, canary: Obj) -> Obj:
    matches = []
    for base in rule.get("match") or [{}]:
        for want in route.match:
            match = copy.deepcopy(base)
            if want.path is not None:
                match["uri"] = _string(want.path)
            if want.method is not None:
                match["method"] = _string(want.method)
            if want.headers:
                headers = {h.name.lower(): _string(h.value) for h in want.headers}
                match["headers"] = {**(match.get("headers") or {}), **headers}
            matches.append(match)
    return {
        **_carried(rule),
        "match": matches,
        "route": copy.deepcopy(rule.get("route") or []),
        "mirror": copy.deepcopy(canary["destination"]),
        "mirrorPercentage": {"value": float(route.percentage)},
    }


class IstioRouter(EditedRoutes):
    def targets(self, rollout: RolloutSpec) -> list[Target]:
        found = configured(_services, rollout, "spec.trafficRouting.istio")
        http = ("spec", "http")
        return [
            Target(
                API_VERSION, PLURAL, "VirtualService", vs.name, shape(rollout, vs), http, vs.routes
            )
            for vs in found
        ]

    def check(self, rollout: RolloutSpec, target: Target, obj: Obj | None) -> None:
        """The VirtualService exists, has the named routes, and each route to the Service sends
        to it and the canary only (Istio wants the weights of a route to add up to 100)."""
        where = f"the VirtualService {rollout.namespace}/{target.name}"
        if obj is None:
            raise VirtualServiceNotReady(
                f"{where} (spec.trafficRouting.istio) does not exist; create it with an HTTP "
                f"route to the host {rollout.primary_service}"
            )
        found = target.shape
        names = {rule.get("name") for rule in found.rules(obj)}
        missing = [r for r in target.named if r not in names]
        if missing:
            raise VirtualServiceNotReady(f"{where} has no HTTP route named {missing[0]!r}")
        indexes = splits.rollout_rules(obj, found, splits.services(rollout))
        if not indexes:
            raise VirtualServiceNotReady(
                f"{where} has no HTTP route to the host {rollout.primary_service} or "
                f"{rollout.service.name}"
            )
        for i in indexes:
            routes = found.rules(obj)[i].get("route") or []
            if any(found.service(ref) is None for ref in routes):
                raise VirtualServiceNotReady(
                    f"{where}: HTTP route {i} also sends to other destinations; Ferry "
                    "splits a route between the stable and canary Services only"
                )


def create(kube: Kube) -> IstioRouter:
    return IstioRouter(kube)
