"""Weights in the rules of a user's route, changed so that they can be put back exactly.

The Gateway API and Istio routers edit objects that are the user's (Git's): the rules of an
HTTPRoute or a VirtualService that send to the stable Service get a canary reference and the
two weights. :func:`weighted` records, in an annotation of the object (:data:`MARK`), what it
changed (the original weights, whether it added the canary reference), and :func:`restored`
puts exactly that back and removes the record: at weight 0 the object is as Git wrote it.
Header and mirror routes are rules Ferry adds, each just before the user's rule it derives from
(so no request another rule of the user's would have taken is caught), named
``ferry-<route>-<n>`` and listed in the record, and removed the same way. A :class:`Shape` says
where a kind keeps its rules and references and how its added rules look; the rest is shared.

Pure functions over object dicts: no I/O (the routers write, with ``Kube.fenced_patch``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.kube import covers

if TYPE_CHECKING:
    from shared.models import RolloutSpec, RouteStep, SetHeaderRoute, SetMirrorRoute
    from shared.routers import Backend

Obj = dict[str, Any]
MARK = "ferry.dev/route-changes"
"""The annotation holding what Ferry changed in a route (JSON), removed when it is restored."""


@dataclass(frozen=True)
class Shape:
    """Where one kind of route keeps what the weights are set on."""

    rules: Callable[[Obj], list[Obj]]
    """The route's rules (the list inside the object: edits to it edit the object)."""
    refs: str
    """The key of a rule's list of references (``backendRefs``, ``route``)."""
    service: Callable[[Obj], str | None]
    """The Service a reference sends to, when it is a plain reference to a Service."""
    canary: Callable[[Obj, str], Obj]
    """A reference to the canary Service ``name`` modelled on the stable reference."""
    default_weight: int
    """The weight of a reference without one."""
    selected: Callable[[Obj], bool] = lambda rule: True
    """Whether the Rollout's configuration lets Ferry touch this rule (e.g. by its name)."""
    header_rule: Callable[[Obj, SetHeaderRoute, Obj], Obj] | None = None
    """The rule Ferry adds for a header route: the user's rule's requests that also match
    the headers, all to the canary reference given."""
    mirror_rule: Callable[[Obj, SetMirrorRoute, Obj], Obj] | None = None
    """The rule Ferry adds for a mirror route: the user's rule's requests that also match,
    sent as the user's rule sends them and copied to the canary reference given."""
    mark: str = MARK
    """The annotation recording what Ferry changed in these rules (one per list of rules of an
    object: an Istio VirtualService's ``http``, ``tcp`` and ``tls`` each have theirs)."""
    backend: Callable[[Obj, str], Obj] | None = None
    """A reference to another Service ``name`` (an experiment's template) modelled on the
    stable reference (None: as the canary's is made)."""
    named: Callable[[Obj], str | None] | None = None
    """The Service any reference sends to (None: as :attr:`service` reads it)."""

    def other(self, stable: Obj, name: str) -> Obj:
        return (self.backend or self.canary)(stable, name)

    def names(self, ref: Obj) -> str | None:
        return (self.named or self.service)(ref)


@dataclass(frozen=True)
class Services:
    """The Rollout's Services: any of ``stable`` is the stable reference."""

    stable: tuple[str, ...]
    canary: str


def services(rollout: RolloutSpec) -> Services:
    """A Rollout's Services: stable is ``<service>-primary`` or the apex ``<service>`` (which
    selects the same Pods when a router splits traffic), canary ``<service>-canary``."""
    return Services((rollout.primary_service, rollout.service.name), rollout.canary_service)


def rollout_rules(route: Obj, shape: Shape, services: Services) -> list[int]:
    """The indexes of the user's selected rules that send to the stable Service."""
    added = set(_added(route, shape.mark))
    return [
        i
        for i, rule in enumerate(shape.rules(route))
        if isinstance(rule, dict)
        and rule.get("name") not in added
        and shape.selected(rule)
        and any(shape.service(ref) in services.stable for ref in _list(rule, shape))
    ]


def _list(rule: Obj, shape: Shape) -> list[Obj]:
    refs = rule.get(shape.refs)
    return [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []


def refs(rule: Obj, shape: Shape, services: Services) -> tuple[Obj, Obj | None]:
    """The rule's stable and canary references (the canary's may be absent)."""
    found = _list(rule, shape)
    stable = next(r for r in found if shape.service(r) in services.stable)
    canary = next((r for r in found if shape.service(r) == services.canary), None)
    return stable, canary


def _weight(ref: Obj, shape: Shape) -> int:
    value = ref.get("weight", shape.default_weight)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def share(rule: Obj, shape: Shape, services: Services, extra: frozenset[str] = frozenset()) -> int:
    """The canary's percentage of the rule's traffic between the two references (and the
    references Ferry added to the Services ``extra``: an experiment's templates)."""
    stable, canary = refs(rule, shape, services)
    if canary is None:
        return 0
    s, c = _weight(stable, shape), _weight(canary, shape)
    s += sum(_weight(r, shape) for r in _list(rule, shape) if shape.names(r) in extra)
    return round(100 * c / (s + c)) if s + c else 0


def _backends_added(route: Obj, mark: str, index: int) -> frozenset[str]:
    """The Services of the references Ferry added to rule ``index`` for other backends."""
    change = _changes(route, mark).get(str(index))
    names = change.get("backends") if isinstance(change, dict) else None
    return (
        frozenset(n for n in names if isinstance(n, str))
        if isinstance(names, list)
        else frozenset()
    )


def route_weight(route: Obj, shape: Shape, services: Services) -> int:
    """The canary weight in effect: that of the first rollout rule whose share differs from
    the first's, else the first's (0 if no rule sends to the stable Service)."""
    rules = shape.rules(route)
    shares = [
        share(rules[i], shape, services, _backends_added(route, shape.mark, i))
        for i in rollout_rules(route, shape, services)
    ]
    return next((s for s in shares if s != shares[0]), shares[0]) if shares else 0


def record(route: Obj, mark: str = MARK) -> Obj:
    """What Ferry recorded in the annotation ``mark`` of ``route`` (JSON; {} when none)."""
    raw = ((route.get("metadata") or {}).get("annotations") or {}).get(mark)
    try:
        record = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _changes(route: Obj, mark: str) -> dict[str, Obj]:
    """The weights Ferry changed, by the index of the user's rule (without added rules)."""
    changes = record(route, mark).get("weights")
    return changes if isinstance(changes, dict) else {}


def _added(route: Obj, mark: str) -> list[str]:
    """The names of the rules Ferry added."""
    added = record(route, mark).get("added")
    return [n for n in added if isinstance(n, str)] if isinstance(added, list) else []


def _set(ref: Obj, weight: Any) -> None:
    if weight is None:
        ref.pop("weight", None)
    else:
        ref["weight"] = weight


def restored(route: Obj, shape: Shape, services: Services) -> Obj:
    """``route`` with every change Ferry recorded put back and the record removed."""
    out = copy.deepcopy(route)
    rules = shape.rules(out)
    added = set(_added(route, shape.mark))
    rules[:] = [r for r in rules if not (isinstance(r, dict) and r.get("name") in added)]
    present = rollout_rules(out, shape, services)
    for index, change in _changes(route, shape.mark).items():
        i = int(index) if index.isdigit() else -1
        if i not in present or not isinstance(change, dict):
            continue  # the rule is gone or no longer sends to the Service: nothing to undo
        stable, canary = refs(rules[i], shape, services)
        _set(stable, change.get("stable"))
        others = _backends_added(route, shape.mark, i)
        if others:
            rules[i][shape.refs] = [
                r for r in _list(rules[i], shape) if shape.names(r) not in others
            ]
        if canary is not None and change.get("canaryAdded"):
            rules[i][shape.refs].remove(canary)
        elif canary is not None:
            _set(canary, change.get("canary"))
    annotations = (out.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(shape.mark, None)
    return out


def weighted(
    route: Obj,
    shape: Shape,
    services: Services,
    weight: int,
    routes: tuple[RouteStep, ...] = (),
    backends: tuple[Backend, ...] = (),
) -> Obj:
    """``route`` sending ``weight`` percent of each rollout rule's traffic to the canary (and
    each of ``backends`` its weight, taken from the stable share), with the header and mirror
    ``routes`` added: the route as Git wrote it when that is what it does already, else with
    the references' weights set and the references and rules added (all recorded in
    :data:`MARK`)."""
    out = restored(route, shape, services)
    rules = shape.rules(out)
    indexes = rollout_rules(out, shape, services)
    if (
        not routes
        and not backends
        and all(share(rules[i], shape, services) == weight for i in indexes)
    ):
        return out
    changes: dict[str, Obj] = {}
    others = sum(b.weight for b in backends)
    for i in indexes:
        if not backends and share(rules[i], shape, services) == weight:
            continue
        stable, canary = refs(rules[i], shape, services)
        change: Obj = {"stable": stable.get("weight")}
        if canary is None:
            canary = shape.canary(stable, services.canary)
            rules[i][shape.refs].append(canary)
            change["canaryAdded"] = True
        else:
            change["canary"] = canary.get("weight")
        stable["weight"], canary["weight"] = 100 - weight - others, weight
        for backend in backends:
            reference = shape.other(stable, backend.service)
            reference["weight"] = backend.weight
            rules[i][shape.refs].append(reference)
        if backends:
            change["backends"] = [b.service for b in backends]
        changes[str(i)] = change
    added = _add_routes(rules, indexes, shape, services, routes)
    if not changes and not added:
        return out
    meta = out.setdefault("metadata", {})
    if not isinstance(meta.get("annotations"), dict):
        meta["annotations"] = {}
    record = {"weights": changes, "added": added}
    meta["annotations"][shape.mark] = json.dumps(record, sort_keys=True)
    return out


def _add_routes(
    rules: list[Obj],
    indexes: list[int],
    shape: Shape,
    services: Services,
    routes: tuple[RouteStep, ...],
) -> list[str]:
    """Insert, just before each rollout rule, a rule per route; the names of those added."""
    from shared.models import SetCookieRoute, SetHeaderRoute  # the core's step types

    made: dict[int, list[Obj]] = {}
    for route in routes:
        for i in indexes:
            stable, canary = refs(rules[i], shape, services)
            target = copy.deepcopy(canary) if canary else shape.canary(stable, services.canary)
            target.pop("weight", None)
            if isinstance(route, SetCookieRoute):  # a match on the Cookie header
                route = SetHeaderRoute(route.name, route.match)
            if isinstance(route, SetHeaderRoute):
                assert shape.header_rule is not None, "the router declares no header routes"
                rule = shape.header_rule(rules[i], route, target)
            else:
                assert shape.mirror_rule is not None, "the router declares no mirror routes"
                rule = shape.mirror_rule(rules[i], route, target)
            rule["name"] = f"ferry-{route.name}-{i}"
            made.setdefault(i, []).append(rule)
    names = [r["name"] for i in sorted(made) for r in made[i]]
    rules[:] = [r for i, rule in enumerate(rules) for r in (*made.get(i, ()), rule)]
    return names


def patch(
    current: Obj,
    desired: Obj,
    rules_path: tuple[str, ...],
    mark: str = MARK,
    *,
    exact: bool = False,
) -> Obj | None:
    """The merge patch from ``current`` to ``desired`` (they differ only in the list found at
    ``rules_path`` and the annotation ``mark``); None when ``current`` says all that
    ``desired`` says (the API server adds the schema's defaults to the rules Ferry adds: a
    backendRef's weight, group and kind; they are no difference) — or, ``exact``, when the two
    lists are equal (a field to remove is a difference). The list is replaced whole: the write
    is conditional on the version read, so no edit is lost."""
    out: Obj = {}
    now = (current.get("metadata") or {}).get("annotations") or {}
    then = (desired.get("metadata") or {}).get("annotations") or {}
    if now.get(mark) != then.get(mark):
        out["metadata"] = {"annotations": {mark: then.get(mark)}}
    now_rules, then_rules = _at(current, rules_path), _at(desired, rules_path)
    if (now_rules != then_rules) if exact else not covers(now_rules, then_rules):
        node = out
        for key in rules_path[:-1]:
            node = node.setdefault(key, {})
        node[rules_path[-1]] = _at(desired, rules_path)
    return out or None


def _at(obj: Obj, path: tuple[str, ...]) -> Any:
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node
