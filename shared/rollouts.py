"""Loading a Rollout with everything a transition needs: its object, parsed spec and router.

Functions call :func:`load` instead of repeating the lookup. A Rollout that is gone yields
None; an invalid one (including one naming a router Ferry does not have: the spec is checked
against the router registry here, above both) raises :class:`~shared.models.InvalidSpec` for
the caller to record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared import models, routers
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

    @property
    def uid(self) -> str:
        return str(self.obj["metadata"].get("uid", ""))

    @property
    def generation(self) -> int:
        return int(self.obj["metadata"].get("generation", 0))

    @property
    def deleting(self) -> bool:
        return bool(self.obj["metadata"].get("deletionTimestamp"))


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
    spec = models.parse(obj)
    if spec.router not in routers.REGISTRY.names:
        known = ", ".join(routers.spec_names())
        raise models.InvalidSpec(
            [f"spec.trafficRouting: unknown traffic router {spec.router!r} (known: {known})"]
        )
    problems = routers.validate(spec.router, spec.routing, spec.steps)
    if problems:
        raise models.InvalidSpec(problems)
    return Rollout(
        obj,
        spec,
        routers.get(spec.router, ctx.kube),
        by_replicas=routers.by_replicas(spec.router),
        shared_pods=routers.shares_pods(spec.router, spec.routing),
    )
