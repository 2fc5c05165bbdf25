"""The router of blue/green without traffic routing: the active Service's selector.

As in Argo Rollouts' blue/green, the active Service (the apex, ``spec.service.name`` or
``activeService``) is the switch: at weight 0 it selects the primary's Pods, at weight 100 the
target's (the preview), so all traffic moves in one write and an abort moves it back in one.
There is no weight in between (blue/green asks only for 0 and 100; anything below 100 is 0).
The primary's labels are the target's with ``-primary`` appended (``shared.workloads``), so the
two selectors never overlap. It owns only the apex's selector: the Services themselves are
made by ``finalize`` (``shared.workloads.services`` leaves the apex to this router) and the
preview Service always selects the target's Pods. It never scales a workload.
"""

from __future__ import annotations

from typing import Any

from shared import workloads
from shared.kube import Kube
from shared.models import RolloutSpec
from shared.routers import Capability, Traffic, Want, full_size

Obj = dict[str, Any]
CAPABILITIES = frozenset({Capability.WEIGHTS, Capability.SELECTOR})


class ServiceRouter:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def _target(self, rollout: RolloutSpec) -> Obj | None:
        return self.kube.deployment(rollout.namespace, rollout.target)

    def _selector(self, target: Obj, weight: int) -> dict[str, str]:
        if weight >= 100:
            return workloads.selector_labels(target)
        return workloads.primary_labels(target, shared=False)

    def reconcile(self, rollout: RolloutSpec, owner: dict[str, Any]) -> None:
        """Create the active Service, selecting the primary, when it is missing; else keep its
        ports and type as Ferry makes them (its selector is the weight's)."""
        target = self._target(rollout)
        if target is None:
            return
        apex = workloads.services(rollout, target, owner, shared=False)[0]
        current = self.kube.get("v1", "services", rollout.namespace, rollout.service.name)
        if current is None:
            self.kube.create(apex)
            return
        self.kube.ensure(
            {**apex, "spec": {k: v for k, v in apex["spec"].items() if k != "selector"}}
        )

    def set_weight(self, rollout: RolloutSpec, want: Want) -> None:
        target = self._target(rollout)
        if target is None:
            return

        def change(service: Obj) -> Obj | None:
            selector = (service.get("spec") or {}).get("selector") or {}
            current = 100 if selector == self._selector(target, 100) else 0
            traffic = want(current)
            if traffic is None:
                return None
            desired = self._selector(target, traffic.weight)
            if selector == desired:
                return None
            patch: dict[str, str | None] = {k: None for k in selector if k not in desired}
            return {"spec": {"selector": {**patch, **desired}}}

        self.kube.fenced_patch("v1", "services", rollout.namespace, rollout.service.name, change)

    def converged(self, rollout: RolloutSpec, traffic: Traffic) -> bool:
        target = self._target(rollout)
        service = self.kube.get("v1", "services", rollout.namespace, rollout.service.name)
        if target is None or service is None:
            return target is None
        selector = (service.get("spec") or {}).get("selector") or {}
        return bool(selector == self._selector(target, traffic.weight))

    def get_weight(self, rollout: RolloutSpec) -> int | None:
        """100 when the active Service selects the target's Pods, 0 otherwise; None when it is
        missing."""
        target = self._target(rollout)
        service = self.kube.get("v1", "services", rollout.namespace, rollout.service.name)
        if target is None or service is None:
            return None
        selector = (service.get("spec") or {}).get("selector") or {}
        return 100 if selector == self._selector(target, 100) else 0

    def objects(self, rollout: RolloutSpec) -> set[tuple[str, str]]:
        return {("Service", rollout.service.name)}

    def canary_replicas(self, weight: int, stable: int) -> int:
        return full_size(weight, stable)

    def finalize(self, rollout: RolloutSpec) -> None:
        """Nothing to remove: the active Service keeps serving (cleanup re-points it at the
        target)."""


def create(kube: Kube) -> ServiceRouter:
    return ServiceRouter(kube)
