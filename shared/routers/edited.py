"""The Router methods shared by routers that edit the user's own routes (Gateway API, Istio).

Such a router names :class:`Target` objects (a route of the user's, with the :class:`Shape
<shared.routers.splits.Shape>` of its kind) and checks that each can be split; everything else
(setting and reading the weights and routes, the drift check, putting back at the end) is the
same for every kind and lives in :class:`EditedRoutes`. Every write is a merge patch conditional
on the resourceVersion read (``Kube.fenced_patch``). It never creates or deletes a user's route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from shared.kube import Kube
from shared.models import RolloutSpec
from shared.routers import Found, Traffic, Want, Written, full_size, splits

Obj = dict[str, Any]
T = TypeVar("T")


def configured(parse: Callable[[Any, str, list[str]], T], rollout: RolloutSpec, where: str) -> T:
    """The router's configuration as ``parse`` reads it (problems collected into a list);
    ValueError if it has any (a loaded Rollout was validated already: this is a bug)."""
    problems: list[str] = []
    found = parse(rollout.routing, where, problems)
    if problems:
        raise ValueError("; ".join(problems))
    return found


@dataclass(frozen=True)
class Target:
    """One route of the user's that a router edits."""

    api_version: str
    plural: str
    kind: str
    name: str
    shape: splits.Shape
    rules_path: tuple[str, ...]
    """Where the route keeps its rules (``spec.rules``, ``spec.http``)."""
    named: tuple[str, ...] = ()
    """The rules the Rollout's configuration names (Istio's ``routes``), if any."""
    routes: bool = True
    """Header and mirror routes are added here (not to TCP and TLS routes)."""


class EditedRoutes:
    """A router over the user's routes; subclasses give :meth:`targets` and :meth:`check`."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def targets(self, rollout: RolloutSpec) -> list[Target]:
        raise NotImplementedError

    def check(self, rollout: RolloutSpec, target: Target, obj: Obj | None) -> None:
        """Raise :class:`~shared.routers.NotReady` when ``obj`` (None: missing) cannot be
        split."""
        raise NotImplementedError

    def _get(self, rollout: RolloutSpec, target: Target) -> Obj | None:
        return self.kube.get(target.api_version, target.plural, rollout.namespace, target.name)

    def _to(self, target: Target, current: Obj, rollout: RolloutSpec, traffic: Traffic) -> Any:
        """The patch that makes ``current`` route ``traffic`` (None: it does)."""
        services = splits.services(rollout)
        routes = traffic.routes if target.routes else ()
        desired = splits.weighted(
            current, target.shape, services, traffic.weight, routes, traffic.backends
        )
        return splits.patch(current, desired, target.rules_path, target.shape.mark)

    def _weight(self, target: Target, obj: Obj, rollout: RolloutSpec) -> int:
        return splits.route_weight(obj, target.shape, splits.services(rollout))

    def _write(self, rollout: RolloutSpec, target: Target, change: Any) -> None:
        self.kube.fenced_patch(
            target.api_version, target.plural, rollout.namespace, target.name, change
        )

    def reconcile(self, rollout: RolloutSpec, owner: Obj) -> None:
        """Check every route (they are the user's: nothing is created)."""
        for target in self.targets(rollout):
            self.check(rollout, target, self._get(rollout, target))

    def set_weight(self, rollout: RolloutSpec, want: Want) -> None:
        for target in self.targets(rollout):

            def change(current: Obj, target: Target = target) -> Obj | None:
                traffic = want(self._weight(target, current, rollout))
                return None if traffic is None else self._to(target, current, rollout, traffic)

            self._write(rollout, target, change)

    def converged(self, rollout: RolloutSpec, traffic: Traffic) -> bool:
        for target in self.targets(rollout):
            current = self._get(rollout, target)
            if current is None or self._to(target, current, rollout, traffic) is not None:
                return False
        return True

    def get_weight(self, rollout: RolloutSpec) -> int | None:
        """The first route's canary weight, or the first that differs from it (so a drifted
        route shows); None if a route is missing."""
        weights = []
        for target in self.targets(rollout):
            obj = self._get(rollout, target)
            if obj is None:
                return None
            weights.append(self._weight(target, obj, rollout))
        return next((w for w in weights if w != weights[0]), weights[0]) if weights else None

    def objects(self, rollout: RolloutSpec) -> set[tuple[str, str]]:
        return {(target.kind, target.name) for target in self.targets(rollout)}

    def canary_replicas(self, weight: int, stable: int) -> int:
        return full_size(weight, stable)

    def finalize(self, rollout: RolloutSpec) -> None:
        """Put back what Ferry changed in every route (the routes themselves stay)."""
        for target in self.targets(rollout):

            def change(current: Obj, target: Target = target) -> Obj | None:
                desired = splits.restored(current, target.shape, splits.services(rollout))
                return splits.patch(current, desired, target.rules_path, target.shape.mark)

            self._write(rollout, target, change)


def preview(
    targets: list[Target],
    rollout: RolloutSpec,
    traffic: Traffic,
    found: Found,
    stand_in: Callable[[str, str], Obj],
) -> list[Written]:
    """Each route of ``targets`` as the router writes it for ``traffic`` (``kubectl ferry
    plan``), edited exactly as :meth:`EditedRoutes.set_weight` edits it: the user's route when
    ``found`` has it, else ``stand_in(kind, name)``, a minimal route to the stable Service."""
    services = splits.services(rollout)
    edited: dict[tuple[str, str], Obj] = {}
    assumed: dict[tuple[str, str], bool] = {}
    for target in targets:
        key = (target.kind, target.name)
        if key not in edited:
            given = found(*key)
            assumed[key] = given is None
            edited[key] = given if given is not None else stand_in(*key)
        routes = traffic.routes if target.routes else ()
        edited[key] = splits.weighted(
            edited[key], target.shape, services, traffic.weight, routes, traffic.backends
        )
    return [Written(obj, " ".join(key) if assumed[key] else "") for key, obj in edited.items()]
