"""Loading a Rollout with everything a transition needs: its object, parsed spec and router.

Functions call :func:`load` instead of repeating the lookup. A Rollout that is gone yields
None; an invalid one (including one naming a router Ferry does not have: the spec is checked
against the router registry by ``shared.routers.checked``, which ``kubectl ferry lint`` runs
too) raises :class:`~shared.models.InvalidSpec` for the caller to record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared import models, routers, workloads
from shared.context import Context
from shared.events import RolloutRef


@dataclass(frozen=True)
class Rollout:
    obj: dict[str, Any]
    spec: models.RolloutSpec
    router: routers.Router
    by_replicas: bool
    """The router splits traffic by replica counts (see ``shared.routers.noop``)."""
    shared_pods: bool
    """One Service is in front of the Pods of both revisions (see ``shared.workloads``)."""
    by_selector: bool = False
    """The router switches the apex Service's selector (see ``shared.routers.service``)."""

    @property
    def uid(self) -> str:
        return str(self.obj["metadata"].get("uid", ""))

    @property
    def generation(self) -> int:
        return int(self.obj["metadata"].get("generation", 0))

    @property
    def deleting(self) -> bool:
        return bool(self.obj["metadata"].get("deletionTimestamp"))

    @property
    def weighted_experiments(self) -> bool:
        """A step of it runs an experiment whose templates get a share of traffic."""
        return any(
            isinstance(step, models.Experiment) and any(t.weight for t in step.templates)
            for step in self.spec.steps
        )

    def services(self, target: dict[str, Any]) -> list[dict[str, Any]]:
        """The Services Ferry keeps for this rollout (``shared.workloads.services``; the apex
        is the router's when it switches the apex's selector)."""
        return workloads.services(
            self.spec, target, self.obj, shared=self.shared_pods, apex=not self.by_selector
        )

    def canary_replicas(self, step: int, weight: int, stable: int) -> int:
        """The canary's replicas at step index ``step`` and ``weight`` when the primary runs
        ``stable``: blue/green's preview size, or what the router needs for the weight."""
        if self.spec.blue_green is not None:
            return self.spec.blue_green.replicas(step, stable)
        return self.router.canary_replicas(weight, stable)


def current(ctx: Context, ref: RolloutRef) -> Rollout | None:
    """The Rollout, or None when it is gone or its spec is invalid: ``initialize`` records an
    invalid spec, every other transition waits until it is fixed."""
    try:
        return load(ctx, ref)
    except models.InvalidSpec:
        return None


def load(ctx: Context, ref: RolloutRef) -> Rollout | None:
    obj = ctx.kube.rollout(ref.namespace, ref.name)
    if obj is None:
        return None
    return of(ctx, obj)


def of(ctx: Context, obj: dict[str, Any]) -> Rollout:
    """The Rollout object ``obj`` as already read (InvalidSpec as :func:`load`)."""
    spec = routers.checked(obj)
    return Rollout(
        obj,
        spec,
        routers.get(spec.router, ctx.kube),
        by_replicas=routers.by_replicas(spec.router),
        shared_pods=routers.shares_pods(spec.router, spec.routing),
        by_selector=routers.Capability.SELECTOR in routers.REGISTRY.capabilities(spec.router),
    )
