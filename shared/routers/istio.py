"""The Istio router: weights on the destinations of the user's VirtualService routes.

Argo Rollouts' shape: ``istio: {virtualService: {name, routes: [...], tcpRoutes: [{port}],
tlsRoutes: [{port, sniHosts}]}}`` (or ``virtualServices: [...]``); TCP and TLS routes get the
weights too (each list of routes records its changes in an annotation of its own), header and
mirror routes are HTTP only. Host-level splitting: in each HTTP route of the
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

Subset-level splitting (``destinationRule: {name, canarySubsetName, stableSubsetName}``): the
routes send to two subsets of the apex Service's host instead, and the user's DestinationRule
says which Pods each holds. The apex then selects the Pods of both revisions (the primary's
carry the target's labels plus ``ferry.dev/role: primary``, see ``shared.workloads``), and
Ferry adds to the DestinationRule's subsets the labels that tell them apart (``subsets``):
``ferry.dev/role: primary`` to the stable subset for as long as the Rollout exists (write it in
Git and nothing differs), and, while the canary receives traffic, ``pod-template-hash`` of the
target's current ReplicaSet to the canary subset (as Argo Rollouts injects
``rollouts-pod-template-hash``). Each is put back exactly (at rest; the stable label when the
Rollout is deleted). The rule's labels are written before a route sends the canary traffic and
taken back after the routes send it none.

It never creates or deletes a VirtualService or DestinationRule, and never writes one the
Rollout does not name.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, TypeGuard

from shared.kube import Kube
from shared.models import RolloutSpec, SetHeaderRoute, SetMirrorRoute, StringMatch
from shared.routers import (
    Capability,
    Found,
    NotReady,
    Traffic,
    Want,
    Written,
    edited,
    splits,
    subsets,
    unknown_fields,
)
from shared.routers.edited import EditedRoutes, Target, configured
from shared.workloads import ROLE_LABEL, selector_labels

Obj = dict[str, Any]
API_VERSION = "networking.istio.io/v1"
PLURAL = "virtualservices"
RULES = "destinationrules"
SUBSETS = ("spec", "subsets")
"""Where a DestinationRule keeps its subsets."""
HASH_LABEL = "pod-template-hash"
"""The label the Deployment controller gives the Pods of each of its ReplicaSets."""
REVISION = "deployment.kubernetes.io/revision"
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
FIELDS = ("virtualService", "virtualServices", "destinationRule")
SUBSET_FIELDS = ("name", "canarySubsetName", "stableSubsetName")
MARK = splits.MARK


@dataclass(frozen=True)
class VirtualService:
    name: str
    routes: tuple[str, ...] = ()
    """The HTTP routes (by name) whose weights Ferry sets; empty: every one that sends to the
    stable Service (none when only TCP or TLS routes are named)."""
    tcp: tuple[int, ...] = ()
    """``tcpRoutes``: the ports of the TCP routes whose weights Ferry sets."""
    tls: tuple[tuple[int, tuple[str, ...]], ...] = ()
    """``tlsRoutes``: (port, SNI hosts) of the TLS routes whose weights Ferry sets."""

    @property
    def http(self) -> bool:
        """Whether HTTP routes are split: named, or nothing else is."""
        return bool(self.routes) or not (self.tcp or self.tls)


@dataclass(frozen=True)
class DestinationRule:
    name: str
    canary: str
    """The canary subset's name (``canarySubsetName``)."""
    stable: str
    """The stable subset's name (``stableSubsetName``)."""


@dataclass(frozen=True)
class Config:
    services: tuple[VirtualService, ...]
    rule: DestinationRule | None
    """Subset-level splitting, when given."""


class VirtualServiceNotReady(NotReady):
    """A VirtualService the Rollout names is missing, or does not route as needed."""

    reason = "VirtualServiceNotReady"


class DestinationRuleNotReady(NotReady):
    """The DestinationRule is missing or lacks a subset, or the canary's Pods are not known."""

    reason = "DestinationRuleNotReady"


def validate(config: Any, where: str) -> list[str]:
    """The problems of ``spec.trafficRouting.istio`` (empty when valid)."""
    problems: list[str] = []
    _config(config, where, problems)
    return problems


def shares_pods(config: Any) -> bool:
    """Subset-level splitting puts the Pods of both revisions behind the apex Service."""
    return isinstance(config, dict) and "destinationRule" in config


def _config(config: Any, where: str, problems: list[str]) -> Config:
    services = _services(config, where, problems)
    raw = config.get("destinationRule") if isinstance(config, dict) else None
    if raw is None:
        return Config(services, None)
    at = f"{where}.destinationRule"
    problems += unknown_fields(raw, at, SUBSET_FIELDS)
    values = {f: raw.get(f) if isinstance(raw, dict) else None for f in SUBSET_FIELDS}
    for field, value in values.items():
        if not isinstance(value, str) or not value:
            problems.append(f"{at}.{field} must be a name (Argo Rollouts' subset-level shape)")
    if values["canarySubsetName"] == values["stableSubsetName"] and values["stableSubsetName"]:
        problems.append(f"{at}: the canary and stable subsets must differ")
    name, canary, stable = (str(values[f] or "") for f in SUBSET_FIELDS)
    return Config(services, DestinationRule(name, canary, stable))


def _services(config: Any, where: str, problems: list[str]) -> tuple[VirtualService, ...]:
    problems += unknown_fields(config, where, FIELDS)
    if not isinstance(config, dict):
        return ()
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
    if not isinstance(raw, dict) or set(raw) - {"name", "routes", "tcpRoutes", "tlsRoutes"}:
        problems.append(
            f"{where} must be {{name: ..., routes: [...], tcpRoutes: [...], tlsRoutes: [...]}}"
        )
        return VirtualService("")
    name, routes = raw.get("name"), raw.get("routes", [])
    if not isinstance(name, str) or not name:
        problems.append(f"{where}.name must be a VirtualService's name")
        name = ""
    if not isinstance(routes, list) or not all(isinstance(r, str) and r for r in routes):
        problems.append(f"{where}.routes must list HTTP route names")
        routes = []
    tcp: list[int] = []
    for i, item in enumerate(raw.get("tcpRoutes") or []):
        port = item.get("port") if isinstance(item, dict) else None
        if not isinstance(item, dict) or set(item) != {"port"} or not _port(port):
            problems.append(f"{where}.tcpRoutes[{i}] must be {{port: 1-65535}}")
            continue
        tcp.append(port)
    tls: list[tuple[int, tuple[str, ...]]] = []
    for i, item in enumerate(raw.get("tlsRoutes") or []):
        port = item.get("port") if isinstance(item, dict) else None
        hosts = item.get("sniHosts", []) if isinstance(item, dict) else None
        if (
            not isinstance(item, dict)
            or set(item) - {"port", "sniHosts"}
            or not _port(port)
            or not isinstance(hosts, list)
            or not all(isinstance(h, str) and h for h in hosts)
        ):
            problems.append(f"{where}.tlsRoutes[{i}] must be {{port: 1-65535, sniHosts: [...]}}")
            continue
        tls.append((port, tuple(hosts)))
    return VirtualService(name, tuple(routes), tuple(tcp), tuple(tls))


def _port(value: Any) -> TypeGuard[int]:
    """A port number (not a bool, which Python counts as an int)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


def _hosts(name: str, namespace: str) -> tuple[str, ...]:
    """The forms of a Service's host in a destination."""
    return (
        name,
        f"{name}.{namespace}",
        f"{name}.{namespace}.svc",
        f"{name}.{namespace}.svc.cluster.local",
    )


SECTIONS = {"http": "HTTP", "tcp": "TCP", "tls": "TLS"}
"""A VirtualService's lists of routes, and how people name them."""


def shape(
    rollout: RolloutSpec, vs: VirtualService, rule: DestinationRule | None, section: str = "http"
) -> splits.Shape:
    """Where a VirtualService keeps its weights in ``section`` (``http``, ``tcp``, ``tls``),
    for this Rollout's Services (host-level), or for the subsets of its apex Service's host
    (``rule``: subset-level; the stable subset is read as ``<service>-primary`` and the canary
    as ``<service>-canary``). Each section records its changes in an annotation of its own;
    only HTTP routes get header and mirror routes."""
    known = {
        host: name
        for name in (rollout.primary_service, rollout.service.name, rollout.canary_service)
        for host in _hosts(name, rollout.namespace)
    }
    apex = set(_hosts(rollout.service.name, rollout.namespace))
    by_subset = (
        {}
        if rule is None
        else {rule.stable: rollout.primary_service, rule.canary: rollout.canary_service}
    )

    def rules(obj: Obj) -> list[Obj]:
        spec = obj.get("spec")
        found = spec.get(section) if isinstance(spec, dict) else None
        return found if isinstance(found, list) else []

    def service(ref: Obj) -> str | None:
        destination = ref.get("destination")
        if not isinstance(destination, dict):
            return None
        if rule is not None:
            if destination.get("host") not in apex:
                return None
            return by_subset.get(str(destination.get("subset")))
        if "subset" in destination:
            return None
        return known.get(str(destination.get("host")))

    def canary(stable: Obj, name: str) -> Obj:
        host = str(stable["destination"]["host"])
        destination: Obj
        if rule is not None:
            destination = {"host": host, "subset": rule.canary}
        else:
            destination = {"host": name + host[len(service(stable) or "") :]}
        if "port" in stable["destination"]:
            destination["port"] = stable["destination"]["port"]
        return {"destination": destination}

    def backend(stable: Obj, name: str) -> Obj:
        """Another Service of the namespace, by its full name (subsets are the apex's)."""
        destination: Obj = {"host": f"{name}.{rollout.namespace}.svc.cluster.local"}
        if "port" in stable["destination"]:
            destination["port"] = stable["destination"]["port"]
        return {"destination": destination}

    def named(ref: Obj) -> str | None:
        """The Service of the namespace a host-level destination sends to."""
        destination = ref.get("destination")
        if not isinstance(destination, dict) or "subset" in destination:
            return None
        host = destination.get("host")
        if not isinstance(host, str):
            return None
        for suffix in _hosts("", rollout.namespace)[1:]:
            if host.endswith(suffix) and "." not in host[: -len(suffix)]:
                return host[: -len(suffix)]
        return host if "." not in host else None

    def selected(rule: Obj) -> bool:
        if section == "http":
            return not vs.routes or rule.get("name") in vs.routes
        matches = [m for m in rule.get("match") or [] if isinstance(m, dict)]
        if section == "tcp":
            return any(m.get("port") in vs.tcp for m in matches)
        return any(
            m.get("port") == port and set(hosts) <= set(m.get("sniHosts") or [])
            for m in matches
            for port, hosts in vs.tls
        )

    http = section == "http"
    return splits.Shape(
        rules,
        "route",
        service,
        canary,
        default_weight=0,
        selected=selected,
        header_rule=_header_rule if http else None,
        mirror_rule=_mirror_rule if http else None,
        mark=MARK if http else f"{MARK}-{section}",
        backend=backend,
        named=named,
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


def _targets(rollout: RolloutSpec) -> list[Target]:
    found = configured(_config, rollout, "spec.trafficRouting.istio")
    made = []
    for vs in found.services:
        wanted = {"http": vs.http, "tcp": bool(vs.tcp), "tls": bool(vs.tls)}
        for section in (s for s, on in wanted.items() if on):
            made.append(
                Target(
                    API_VERSION,
                    PLURAL,
                    "VirtualService",
                    vs.name,
                    shape(rollout, vs, found.rule, section),
                    ("spec", section),
                    vs.routes if section == "http" else (),
                    routes=section == "http",
                )
            )
    return made


def preview(rollout: RolloutSpec, traffic: Traffic, found: Found) -> list[Written]:
    """The VirtualServices as this router edits them for ``traffic`` (``kubectl ferry
    plan``); one not given stands as the routes it names (each HTTP route by name, each TCP
    and TLS route by its port) to ``<service>-primary`` (or to the stable subset). The
    DestinationRule's labels (subset-level) are not shown: they name the canary's Pods, known
    only once they run."""
    config = configured(_config, rollout, "spec.trafficRouting.istio")
    stable: Obj = {"host": rollout.primary_service}
    if config.rule is not None:
        stable = {"host": rollout.service.name, "subset": config.rule.stable}

    def stand_in(kind: str, name: str) -> Obj:
        (vs,) = [v for v in config.services if v.name == name]
        route = [{"destination": dict(stable)}]
        spec: Obj = {}
        if vs.http:
            spec["http"] = [{"name": n, "route": route} for n in vs.routes] or [{"route": route}]
        if vs.tcp:
            spec["tcp"] = [{"match": [{"port": p}], "route": route} for p in vs.tcp]
        if vs.tls:
            spec["tls"] = [
                {"match": [{"port": p, "sniHosts": list(h)}], "route": route} for p, h in vs.tls
            ]
        meta = {"name": name, "namespace": rollout.namespace}
        return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec}

    return edited.preview(_targets(rollout), rollout, traffic, found, stand_in)


class IstioRouter(EditedRoutes):
    def _config(self, rollout: RolloutSpec) -> Config:
        return configured(_config, rollout, "spec.trafficRouting.istio")

    def targets(self, rollout: RolloutSpec) -> list[Target]:
        return _targets(rollout)

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
        kind = SECTIONS[target.rules_path[-1]]
        names = {rule.get("name") for rule in found.rules(obj)}
        missing = [r for r in target.named if r not in names]
        if missing:
            raise VirtualServiceNotReady(f"{where} has no HTTP route named {missing[0]!r}")
        indexes = splits.rollout_rules(obj, found, splits.services(rollout))
        rule = self._config(rollout).rule
        if not indexes and rule is not None:
            raise VirtualServiceNotReady(
                f"{where} has no {kind} route to the subset {rule.stable!r} of the host "
                f"{rollout.service.name} (spec.trafficRouting.istio.destinationRule)"
            )
        if not indexes:
            raise VirtualServiceNotReady(
                f"{where} has no {kind} route Ferry may split to the host "
                f"{rollout.primary_service} or {rollout.service.name}"
            )
        for i in indexes:
            routes = found.rules(obj)[i].get("route") or []
            if any(found.service(ref) is None for ref in routes):
                raise VirtualServiceNotReady(
                    f"{where}: {kind} route {i} also sends to other destinations; Ferry "
                    "splits a route between the stable and canary Services only"
                )

    # -- subset-level splitting: the DestinationRule's labels ---------------------------------

    def reconcile(self, rollout: RolloutSpec, owner: Obj) -> None:
        super().reconcile(rollout, owner)
        rule = self._config(rollout).rule
        if rule is not None:
            self._check_rule(rollout, rule, self._rule(rollout, rule))

    def _rule(self, rollout: RolloutSpec, rule: DestinationRule) -> Obj | None:
        return self.kube.get(API_VERSION, RULES, rollout.namespace, rule.name)

    def _check_rule(self, rollout: RolloutSpec, rule: DestinationRule, obj: Obj | None) -> None:
        where = f"the DestinationRule {rollout.namespace}/{rule.name}"
        if obj is None:
            raise DestinationRuleNotReady(
                f"{where} (spec.trafficRouting.istio.destinationRule) does not exist; create it "
                f"for the host {rollout.service.name} with the subsets {rule.stable!r} and "
                f"{rule.canary!r}"
            )
        host = (obj.get("spec") or {}).get("host")
        if host not in _hosts(rollout.service.name, rollout.namespace):
            raise DestinationRuleNotReady(
                f"{where} is for the host {host!r}, not the Rollout's Service "
                f"{rollout.service.name}"
            )
        missing = [s for s in (rule.stable, rule.canary) if s not in subsets.names(obj)]
        if missing:
            raise DestinationRuleNotReady(f"{where} has no subset named {missing[0]!r}")

    def _canary_hash(self, rollout: RolloutSpec) -> str:
        """The ``pod-template-hash`` of the target's current ReplicaSet (its Pods are the
        canary's)."""
        target = self.kube.deployment(rollout.namespace, rollout.target)
        revision = ((target or {}).get("metadata") or {}).get("annotations", {}).get(REVISION)
        if target is not None and revision:
            selector = ",".join(f"{k}={v}" for k, v in sorted(selector_labels(target).items()))
            uid = target["metadata"].get("uid")
            for rs in self.kube.list_of(
                "apps/v1", "replicasets", rollout.namespace, label_selector=selector or None
            ):
                meta = rs.get("metadata") or {}
                owned = any(ref.get("uid") == uid for ref in meta.get("ownerReferences") or [])
                current = (meta.get("annotations") or {}).get(REVISION) == revision
                found = (meta.get("labels") or {}).get(HASH_LABEL)
                if owned and current and found:
                    return str(found)
        raise DestinationRuleNotReady(
            f"the current ReplicaSet of {rollout.namespace}/{rollout.target} is not there yet: "
            "the canary subset cannot be told apart"
        )

    def _labels(
        self, rollout: RolloutSpec, rule: DestinationRule, traffic: Traffic
    ) -> dict[str, subsets.Labels]:
        """What each subset must carry for ``traffic``."""
        wanted = {rule.stable: {ROLE_LABEL: "primary"}}
        if traffic.weight > 0 or traffic.routes:
            wanted[rule.canary] = {HASH_LABEL: self._canary_hash(rollout)}
        return wanted

    def _write_rule(
        self, rollout: RolloutSpec, rule: DestinationRule, labels: dict[str, subsets.Labels]
    ) -> None:
        def change(current: Obj) -> Obj | None:
            self._check_rule(rollout, rule, current)
            desired = subsets.labelled(current, labels)
            return splits.patch(current, desired, SUBSETS, exact=True)

        self.kube.fenced_patch(API_VERSION, RULES, rollout.namespace, rule.name, change)

    def set_weight(self, rollout: RolloutSpec, want: Want) -> None:
        """With subsets, the DestinationRule's labels before the routes when the canary is to
        receive traffic, after them when it is not (the rule's write follows the routes' weight
        as read just before; a later change is healed by the next drift check)."""
        rule = self._config(rollout).rule
        if rule is None:
            super().set_weight(rollout, want)
            return
        traffic = want(self.get_weight(rollout) or 0)
        if traffic is None:
            return
        labels = self._labels(rollout, rule, traffic)
        active = traffic.weight > 0 or bool(traffic.routes)
        if active:
            self._write_rule(rollout, rule, labels)
        super().set_weight(rollout, want)
        if not active:
            self._write_rule(rollout, rule, labels)

    def converged(self, rollout: RolloutSpec, traffic: Traffic) -> bool:
        if not super().converged(rollout, traffic):
            return False
        rule = self._config(rollout).rule
        if rule is None:
            return True
        current = self._rule(rollout, rule)
        if current is None:
            return False
        try:
            labels = self._labels(rollout, rule, traffic)
        except DestinationRuleNotReady:
            return False
        desired = subsets.labelled(current, labels)
        return splits.patch(current, desired, SUBSETS, exact=True) is None

    def objects(self, rollout: RolloutSpec) -> set[tuple[str, str]]:
        rule = self._config(rollout).rule
        extra = set() if rule is None else {("DestinationRule", rule.name)}
        return super().objects(rollout) | extra

    def finalize(self, rollout: RolloutSpec) -> None:
        """Put back the routes, then the DestinationRule's subsets (no label of Ferry's)."""
        super().finalize(rollout)
        rule = self._config(rollout).rule
        if rule is not None:

            def change(current: Obj) -> Obj | None:
                return splits.patch(current, subsets.restored(current), SUBSETS, exact=True)

            self.kube.fenced_patch(API_VERSION, RULES, rollout.namespace, rule.name, change)


def create(kube: Kube) -> IstioRouter:
    return IstioRouter(kube)
