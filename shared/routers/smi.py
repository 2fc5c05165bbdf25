"""The SMI router (Linkerd, and any mesh implementing SMI's TrafficSplit): a split Ferry owns.

Argo Rollouts' shape: ``smi: {rootService, trafficSplitName}``. Ferry creates the TrafficSplit
``trafficSplitName`` (default: the Rollout's name), owned by the Rollout, for the apex Service
``rootService`` (default: ``spec.service.name``, which clients already call), with two backends:
``<service>-primary`` at ``100 - w`` and ``<service>-canary`` at ``w`` (and, during an
experiment step with weights, each template's Service at its weight, taken from the
primary's). It is written as ``split.smi-spec.io/v1alpha2`` (integer weights), the version
Linkerd's SMI extension serves. Weight writes are merge patches conditional on the
resourceVersion read. It never writes an object it does not own; deleting the Rollout deletes
the split (and the mesh sends all traffic to the apex Service's own Pods, the stable ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.kube import Kube
from shared.models import RolloutSpec
from shared.objects import MANAGED_LABELS, owner_reference
from shared.routers import (
    Capability,
    Found,
    NotReady,
    Traffic,
    Want,
    Written,
    full_size,
    unknown_fields,
)

Obj = dict[str, Any]
API_VERSION = "split.smi-spec.io/v1alpha2"
PLURAL = "trafficsplits"
CAPABILITIES = frozenset({Capability.WEIGHTS, Capability.BACKENDS})
FIELDS = ("rootService", "trafficSplitName")


@dataclass(frozen=True)
class Config:
    root_service: str
    split: str


class SplitTaken(NotReady):
    """A TrafficSplit of that name exists and is not the Rollout's."""

    reason = "TrafficSplitNotOwned"


def validate(config: Any, where: str) -> list[str]:
    """The problems of ``spec.trafficRouting.smi`` (empty when valid)."""
    problems = unknown_fields(config, where, FIELDS)
    if not isinstance(config, dict):
        return problems
    for key in FIELDS:
        value = config.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            problems.append(f"{where}.{key} must be a name")
    return problems


def _config(rollout: RolloutSpec) -> Config:
    raw = rollout.routing
    return Config(
        str(raw.get("rootService") or rollout.service.name),
        str(raw.get("trafficSplitName") or rollout.name),
    )


class SmiRouter:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def desired(self, rollout: RolloutSpec, owner: Obj, weight: int) -> Obj:
        made = _split(rollout, Traffic(weight))
        made["metadata"]["ownerReferences"] = [owner_reference(owner)]
        return made

    def _get(self, rollout: RolloutSpec) -> Obj | None:
        return self.kube.get(API_VERSION, PLURAL, rollout.namespace, _config(rollout).split)

    def reconcile(self, rollout: RolloutSpec, owner: Obj) -> None:
        current = self._get(rollout)
        if current is not None:
            owners = current["metadata"].get("ownerReferences") or []
            if not any(o.get("uid") == owner["metadata"].get("uid") for o in owners):
                raise SplitTaken(
                    f"the TrafficSplit {rollout.namespace}/{_config(rollout).split} exists and "
                    "is not this Rollout's; delete it or set spec.trafficRouting.smi."
                    "trafficSplitName to another name"
                )
        desired = self.desired(rollout, owner, 0)
        if current is not None:
            # The weights of an existing split are set_weight's alone (see the nginx router).
            desired["spec"].pop("backends")
        self.kube.ensure(desired)

    def set_weight(self, rollout: RolloutSpec, want: Want) -> None:
        def change(current: Obj) -> Obj | None:
            traffic = want(_weight(current, rollout))
            return None if traffic is None else _to(current, rollout, traffic)

        self.kube.fenced_patch(
            API_VERSION, PLURAL, rollout.namespace, _config(rollout).split, change
        )

    def converged(self, rollout: RolloutSpec, traffic: Traffic) -> bool:
        current = self._get(rollout)
        return current is not None and _to(current, rollout, traffic) is None

    def get_weight(self, rollout: RolloutSpec) -> int | None:
        current = self._get(rollout)
        return None if current is None else _weight(current, rollout)

    def objects(self, rollout: RolloutSpec) -> set[tuple[str, str]]:
        return {("TrafficSplit", _config(rollout).split)}

    def canary_replicas(self, weight: int, stable: int) -> int:
        return full_size(weight, stable)

    def finalize(self, rollout: RolloutSpec) -> None:
        self.kube.delete(API_VERSION, PLURAL, rollout.namespace, _config(rollout).split)


def create(kube: Kube) -> SmiRouter:
    return SmiRouter(kube)


def _split(rollout: RolloutSpec, traffic: Traffic) -> Obj:
    """The TrafficSplit for ``traffic`` (without its owner reference)."""
    config = _config(rollout)
    return {
        "apiVersion": API_VERSION,
        "kind": "TrafficSplit",
        "metadata": {
            "name": config.split,
            "namespace": rollout.namespace,
            "labels": dict(MANAGED_LABELS),
        },
        "spec": {"service": config.root_service, "backends": _backends(rollout, traffic)},
    }


def preview(rollout: RolloutSpec, traffic: Traffic, found: Found) -> list[Written]:
    """The TrafficSplit as this router writes it for ``traffic`` (``kubectl ferry plan``)."""
    return [Written(_split(rollout, traffic))]


def _to(current: Obj, rollout: RolloutSpec, traffic: Traffic) -> Obj | None:
    """The patch that gives the split ``current`` the weights of ``traffic`` (None: it has)."""
    backends = _backends(rollout, traffic)
    if (current.get("spec") or {}).get("backends") == backends:
        return None
    return {"spec": {"backends": backends}}


def _backends(rollout: RolloutSpec, traffic: Traffic) -> list[Obj]:
    return [
        {"service": rollout.primary_service, "weight": traffic.stable},
        {"service": rollout.canary_service, "weight": traffic.weight},
        *({"service": b.service, "weight": b.weight} for b in traffic.backends),
    ]


def _weight(split: Obj, rollout: RolloutSpec) -> int:
    """The canary's percentage of the split (backends that are neither revision's count as
    stable traffic, which is where a mesh sends them)."""
    backends = [b for b in (split.get("spec") or {}).get("backends") or [] if isinstance(b, dict)]
    total = sum(_number(b.get("weight")) for b in backends)
    canary = sum(
        _number(b.get("weight")) for b in backends if b.get("service") == rollout.canary_service
    )
    return round(100 * canary / total) if total else 0


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    return 0.0
