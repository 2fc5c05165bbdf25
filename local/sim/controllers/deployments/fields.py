"""Reading Deployments and ReplicaSets: the annotations, the template hash, sizes and limits.

Pure functions of an object (no store, no clock): what a Deployment asks for (replicas, strategy,
``maxSurge``/``maxUnavailable``, deadline, selector), what a ReplicaSet reports (revision,
replicas, availability, whether its template is the Deployment's), and the pod-template hash
Kubernetes names ReplicaSets with. Decides nothing about what to do with them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from local.sim.objects import Obj, clone
from local.sim.selectors import LabelSelector, SelectorError, label_selector_from_object

REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)
"""Annotations of a Deployment that its ReplicaSets do not copy."""
_NO_DEADLINE = 2**31 - 1
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def canonical(value: Any) -> Any:
    """``value`` without nulls, empty objects and empty lists: what Kubernetes' typed objects
    cannot tell apart from absent fields (``creationTimestamp: null``, ``resources: {}``)."""
    if isinstance(value, dict):
        kept = {k: canonical(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def template_hash(template: Obj, collision_count: int = 0) -> str:
    """A stable 10-character name-safe hash of a pod template: FNV-1a (32 bit) over its
    canonical JSON, rendered like Kubernetes' ``SafeEncodeString``."""
    text = json.dumps(canonical(template), sort_keys=True, separators=(",", ":"))
    if collision_count:
        text += str(collision_count)
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in f"{value:010d}")


def scaled(value: Any, total: int, *, round_up: bool) -> int:
    """An int-or-percent (``2``, ``"25%"``) resolved against ``total``."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        try:
            share = float(text[:-1]) * total / 100
        except ValueError:
            return 0
        return math.ceil(share) if round_up else math.floor(share)
    try:
        return int(text)
    except ValueError:
        return 0


def spec_of(obj: Obj) -> Obj:
    spec: Obj = obj.get("spec") or {}
    return spec


def replicas_of(obj: Obj) -> int:
    return int(spec_of(obj).get("replicas", 1))


def status_count(obj: Obj, field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


def is_rolling(d: Obj) -> bool:
    strategy: Obj = spec_of(d).get("strategy") or {}
    return bool(strategy.get("type", "RollingUpdate") == "RollingUpdate")


def surge_and_unavailable(d: Obj) -> tuple[int, int]:
    """``maxSurge`` and ``maxUnavailable`` in Pods (0 and 0 for Recreate)."""
    if not is_rolling(d):
        return 0, 0
    rolling = (spec_of(d).get("strategy") or {}).get("rollingUpdate") or {}
    replicas = replicas_of(d)
    surge = scaled(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = scaled(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def revision_of(rs: Obj) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def by_creation(rs: Obj) -> tuple[str, str]:
    return (rs["metadata"].get("creationTimestamp", ""), rs["metadata"]["name"])


def same_template(rs: Obj, template: Obj) -> bool:
    """Kubernetes' ``EqualIgnoreHash``: the ReplicaSet's template is ``template``, apart from
    the ``pod-template-hash`` label."""
    copy: Obj = clone(spec_of(rs).get("template") or {})
    labels = (copy.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return bool(canonical(copy) == canonical(template))


def available_replicas(rs: Obj) -> int:
    """Available Pods, never more than asked for (status may lag a scale-down)."""
    return min(status_count(rs, "availableReplicas"), replicas_of(rs))


def progress_deadline(d: Obj) -> int | None:
    seconds = spec_of(d).get("progressDeadlineSeconds")
    return None if seconds is None or seconds == _NO_DEADLINE else int(seconds)


def selector_of(obj: Obj) -> LabelSelector | None:
    try:
        selector = label_selector_from_object(spec_of(obj).get("selector") or {})
    except SelectorError:
        return None
    return None if selector.empty else selector
