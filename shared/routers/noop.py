"""The router for a Rollout without traffic routing: weights as shares of replicas.

As in Argo Rollouts' basic canary, there is nothing to route with: the apex Service selects the
Pods of both revisions (see ``shared.workloads``), so a ``setWeight`` of N percent scales the
canary (the target Deployment) to ``ceil(N% of the primary's replicas)`` while the primary keeps
its size; the canary's share of requests follows its share of ready Pods. It owns no objects,
so there is nothing to reconcile, read back or remove: it only says how many canary replicas a
weight needs (``shared.levels`` scales the canary).
"""

from __future__ import annotations

from typing import Any

from shared.kube import Kube
from shared.models import RolloutSpec
from shared.routers import Capability, Traffic, Want, share_of

CAPABILITIES = frozenset({Capability.WEIGHTS, Capability.REPLICAS})


class NoopRouter:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def reconcile(self, rollout: RolloutSpec, owner: dict[str, Any]) -> None:
        """Nothing to create: there are no routing objects."""

    def set_weight(self, rollout: RolloutSpec, want: Want) -> None:
        """Nothing to write: the weight is the canary's share of replicas, a level of the
        workloads (``shared.levels``), not of routing objects."""

    def converged(self, rollout: RolloutSpec, traffic: Traffic) -> bool:
        """Always: there are no routing objects (the replicas are a level of their own)."""
        return True

    def get_weight(self, rollout: RolloutSpec) -> int | None:
        """None: no routing objects (the canary's replicas are healed as a scale)."""
        return None

    def objects(self, rollout: RolloutSpec) -> set[tuple[str, str]]:
        """None: there are no routing objects."""
        return set()

    def canary_replicas(self, weight: int, stable: int) -> int:
        return share_of(weight, stable)

    def finalize(self, rollout: RolloutSpec) -> None:
        """Nothing to remove."""


def create(kube: Kube) -> NoopRouter:
    return NoopRouter(kube)
