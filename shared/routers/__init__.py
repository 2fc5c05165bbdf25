"""Traffic routers: how the canary's share of traffic is set, one module per implementation.

A router owns the objects that split traffic (for NGINX, the canary Ingress) and nothing else;
the ``noop`` router owns none and realises a weight as the canary's share of replicas, as Argo
Rollouts does without traffic routing. :class:`Router` is the whole interface; each module
declares its ``CAPABILITIES`` (:class:`Capability`) and ``create(kube)``, and :data:`REGISTRY`
(the shape of every plugin family, see ``shared.plugins``) refuses names it does not know.
Routers never touch rollout state, never import one another, and only ``noop`` scales a
workload. A module that writes routing objects also renders them offline, ``preview(rollout,
traffic, found)`` (:func:`preview`: what ``kubectl ferry plan`` shows at each weight).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from shared import plugins
from shared.kube import Kube

if TYPE_CHECKING:
    from shared.models import RolloutSpec, RouteStep, Step


class Capability(StrEnum):
    """What a router can do, declared by each implementation module as ``CAPABILITIES``."""

    WEIGHTS = "weights"
    """Sends a percentage of the requests to the canary (``setWeight``)."""
    HEADERS = "headers"
    """Sends requests with a given header to the canary (``setHeaderRoute``)."""
    COOKIES = "cookies"
    """Sends requests with a given cookie to the canary (``setCookieRoute``)."""
    MIRROR = "mirror"
    """Sends a copy of requests to the canary, its answers ignored (``setMirrorRoute``)."""
    ROUTES = "routes"
    """Splits several of the user's routes at once (or named routes within one)."""
    REPLICAS = "replicas"
    """Has no routing objects: the apex Service selects the Pods of both revisions, and a
    weight is the canary's share of replicas (approximate: whole Pods)."""
    SELECTOR = "selector"
    """Has no routing objects but the apex (active) Service, whose selector it re-points: all
    traffic moves at once (blue/green without ``spec.trafficRouting``)."""
    BACKENDS = "backends"
    """More backends than the two revisions, each with its weight: an experiment step's
    templates get a share of live traffic."""


TABLE_COLUMNS = (
    Capability.WEIGHTS,
    Capability.HEADERS,
    Capability.COOKIES,
    Capability.MIRROR,
    Capability.ROUTES,
    Capability.BACKENDS,
)
"""The capabilities shown in the README's table of routers (:func:`table`)."""


class Router(Protocol):
    """Sets the split between the stable (primary) and canary Services."""

    def reconcile(self, rollout: RolloutSpec, owner: dict[str, Any]) -> None:
        """Create or repair the routing objects, keeping the current canary weight
        (0 for new ones). ``owner`` is the Rollout object, for owner references."""
        ...

    def set_weight(self, rollout: RolloutSpec, want: Want) -> None:
        """Send traffic as ``want(current)`` says: its weight to the canary, and its header
        and mirror routes (level-based, idempotent).
        ``want`` is called after the routing objects are read and before they are written,
        and the write is conditional on what was read (``Kube.fenced_patch``): a fence, so a
        weight computed from an older state never lands after a newer one (None: leave
        them)."""
        ...

    def converged(self, rollout: RolloutSpec, traffic: Traffic) -> bool:
        """Whether the routing objects route ``traffic`` already (weight and routes): False
        when one is missing or was changed (drift)."""
        ...

    def get_weight(self, rollout: RolloutSpec) -> int | None:
        """The canary weight in effect, or None if there are no routing objects."""
        ...

    def objects(self, rollout: RolloutSpec) -> set[tuple[str, str]]:
        """The (kind, name) of every routing object it reads or writes for ``rollout``: a
        change to one of them may be drift."""
        ...

    def canary_replicas(self, weight: int, stable: int) -> int:
        """How many canary replicas this router needs at ``weight`` percent when the stable
        revision runs ``stable`` replicas."""
        ...

    def finalize(self, rollout: RolloutSpec) -> None:
        """Remove the routing objects: all traffic goes to the stable Service."""
        ...


@dataclass(frozen=True)
class Backend:
    """A Service beside the two revisions' that receives ``weight`` percent of the traffic
    (an experiment step's template), taken from the stable revision's share."""

    service: str
    weight: int


@dataclass(frozen=True)
class Traffic:
    """What a router is asked to do: the canary's weight, the header and mirror routes in
    effect (in the order they were set; empty unless the router declares HEADERS or MIRROR),
    and the other backends (empty unless it declares BACKENDS)."""

    weight: int
    routes: tuple[RouteStep, ...] = ()
    backends: tuple[Backend, ...] = ()

    @property
    def stable(self) -> int:
        """The stable revision's percentage."""
        return 100 - self.weight - sum(b.weight for b in self.backends)


Want = Callable[[int], "Traffic | None"]
"""Given the weight in effect, the traffic to send, asked at the moment of writing (see
:meth:`Router.set_weight`); None: leave it."""


Found = Callable[[str, str], "dict[str, Any] | None"]
"""The user's object of a kind and name (``Ingress``, ``podinfo``), when it is known: what a
router's ``preview`` edits (``kubectl ferry plan``: the objects of the files given)."""


@dataclass(frozen=True)
class Written:
    """A routing object as a router would write it (:func:`preview`)."""

    obj: dict[str, Any]
    assumed: str = ""
    """The user's object it is made from (``Ingress podinfo``, the stable Ingress; the route
    itself), when it was not given and a stand-in was used: a route sending all of the
    Service's traffic to the stable revision; for ingress-nginx an Ingress without rules, so
    the canary Ingress has none."""


class NotReady(Exception):
    """A routing object the router needs is missing or wrong (e.g. the stable Ingress): the
    rollout waits, with the message as its condition, until the object is fixed."""

    reason = "RoutingNotReady"
    """The condition's reason (CamelCase)."""


class UnknownRouter(plugins.UnknownPlugin):
    """A Rollout names a traffic router Ferry does not have."""


REGISTRY: plugins.Registry[Router, Kube] = plugins.Registry(
    "traffic router",
    __name__,
    {
        "nginx": "nginx",
        "noop": "noop",
        "service": "service",
        "gatewayAPI": "gatewayapi",
        "istio": "istio",
        "smi": "smi",
    },
    unknown=UnknownRouter,
)
"""Each router by the name ``spec.trafficRouting`` gives it (without it: ``noop`` for a canary,
``service`` for blue/green)."""


def get(name: str, kube: Kube) -> Router:
    """The router called ``name``, writing through ``kube``."""
    return REGISTRY.create(name, kube)


def unknown_fields(config: Any, where: str, known: tuple[str, ...]) -> list[str]:
    """The start of every router's ``validate``: ``config`` must be an object of the ``known``
    fields (each unknown one named)."""
    if not isinstance(config, dict):
        return [f"{where} must be an object"]
    return [
        f"{where}.{key} is not a field (known: {', '.join(known)})"
        for key in sorted(set(config) - set(known))
    ]


def validate(
    name: str,
    config: dict[str, Any],
    steps: tuple[Step, ...] = (),
    where: Callable[[int], str] | None = None,
) -> list[str]:
    """The problems of router ``name``'s configuration ``spec.trafficRouting.<name>``, and of
    ``steps`` that ask it for what it cannot do (a route it does not have the capability for,
    never silently ignored; or what the module's ``validate_steps`` refuses)."""
    from shared import models  # the core's step types (routers import the core, not back)

    problems = REGISTRY.validate(name, config, f"spec.trafficRouting.{name}")
    declared = REGISTRY.capabilities(name)
    needs = {
        models.SetHeaderRoute: (Capability.HEADERS, "route by header"),
        models.SetMirrorRoute: (Capability.MIRROR, "mirror traffic"),
        models.SetCookieRoute: (Capability.COOKIES, "route by cookie"),
    }
    who = f"the {name} router"
    if Capability.REPLICAS in declared:
        who = "a Rollout without spec.trafficRouting"
    elif Capability.SELECTOR in declared:
        who = "blue/green without spec.trafficRouting"
    for i, step in enumerate(steps):
        if isinstance(step, models.Experiment) and any(t.weight for t in step.templates):
            if Capability.BACKENDS not in declared:
                able = ", ".join(
                    n for n in REGISTRY.names if Capability.BACKENDS in REGISTRY.capabilities(n)
                )
                at = where(i) if where else f"spec.strategy.canary.steps[{i}].experiment"
                problems.append(
                    f"{at}: {who} cannot give an experiment's templates a share of "
                    f"traffic (weight; routers that can: {able}); without weight they get none"
                )
            continue
        if type(step) not in needs:
            continue
        need, what = needs[type(step)]
        if need in declared:
            continue
        able = ", ".join(n for n in REGISTRY.names if need in REGISTRY.capabilities(n))
        at = where(i) if where else f"spec.strategy.canary.steps[{i}].{models.step_kind(step)}"
        problems.append(f"{at}: {who} cannot {what} (routers that can: {able})")
    check_steps = getattr(REGISTRY.module(name), "validate_steps", None)
    if check_steps is not None and not problems:
        problems += check_steps(steps)
    return problems


def checked(obj: dict[str, Any]) -> RolloutSpec:
    """A Rollout object's spec as Ferry loads it (``shared.rollouts``): parsed by
    ``shared.models.parse``, then its router checked against the registry (a name it knows,
    a configuration and steps it can act on); :class:`~shared.models.InvalidSpec` lists every
    problem. Pure: ``kubectl ferry lint`` and ``plan`` check a file with it."""
    from shared import models  # the core's parser (routers import the core, not back)

    spec = models.parse(obj)
    implicit = models.BY_SELECTOR if spec.blue_green is not None else models.BY_REPLICAS
    if spec.router != implicit and spec.router not in spec_names():
        known = ", ".join(spec_names())
        raise models.InvalidSpec(
            [f"spec.trafficRouting: unknown traffic router {spec.router!r} (known: {known})"]
        )
    problems = validate(spec.router, spec.routing, spec.steps, spec.step_where)
    if problems:
        raise models.InvalidSpec(problems)
    return spec


def preview(name: str, rollout: RolloutSpec, traffic: Traffic, found: Found) -> list[Written]:
    """The routing objects router ``name`` writes for ``traffic``, rendered by the module's own
    ``preview(rollout, traffic, found)`` from the user's objects ``found`` gives (none for a
    router without routing objects: replica counts, a Service's selector). Pure: what
    ``kubectl ferry plan`` shows before anything is applied."""
    render = getattr(REGISTRY.module(name), "preview", None)
    return list(render(rollout, traffic, found)) if render is not None else []


def by_replicas(name: str) -> bool:
    """Whether router ``name`` splits traffic by replica counts (no routing objects)."""
    return Capability.REPLICAS in REGISTRY.capabilities(name)


def shares_pods(name: str, config: dict[str, Any]) -> bool:
    """Whether router ``name`` with ``config`` needs one Service in front of the Pods of both
    revisions (``shared.workloads``): replica-count splitting always, others when their module
    says so for the configuration (``shares_pods(config)``, e.g. Istio's subsets)."""
    if by_replicas(name):
        return True
    decide = getattr(REGISTRY.module(name), "shares_pods", None)
    return bool(decide(config)) if decide is not None else False


def spec_names() -> tuple[str, ...]:
    """The routers a Rollout names under ``spec.trafficRouting`` (all but those used without
    it)."""
    implicit = {Capability.REPLICAS, Capability.SELECTOR}
    return tuple(name for name in REGISTRY.names if not implicit & REGISTRY.capabilities(name))


def table() -> str:
    """The README's capability table: one row per router, from the modules' declarations."""
    head = ["router (`spec.trafficRouting`)", *(str(c) for c in TABLE_COLUMNS)]
    rows = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    for name in REGISTRY.names:
        declared = REGISTRY.capabilities(name)
        label = f"`{name}`"
        if Capability.REPLICAS in declared:
            label = "(none: replica counts)"
        elif Capability.SELECTOR in declared:
            label = "(none, blue/green: the active Service's selector, 0 or 100)"
        cells = ["yes" if c in declared else "no" for c in TABLE_COLUMNS]
        rows.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(rows) + "\n"


def full_size(weight: int, stable: int) -> int:
    """For routers that split by routing: the canary runs at the stable revision's size at
    every weight (it is scaled before it receives traffic)."""
    return max(stable, 1)


def share_of(weight: int, stable: int) -> int:
    """For replica-count splitting: the canary replicas closest above ``weight`` percent of the
    stable size (0 at weight 0)."""
    return math.ceil(max(stable, 1) * weight / 100)
