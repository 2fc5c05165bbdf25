"""A Deployment's status: the counts, ``observedGeneration`` and the Available and Progressing
conditions (with ``ProgressDeadlineExceeded``), computed from its ReplicaSets as Kubernetes does.

Writes the Deployment's status subresource, only when it changed; never resizes or creates a
ReplicaSet (the strategies do).
"""

from __future__ import annotations

from local.sim.clock import parse_rfc3339
from local.sim.controllers.base import status_condition
from local.sim.controllers.deployments.conditions import new_condition, set_condition
from local.sim.controllers.deployments.fields import (
    progress_deadline,
    replicas_of,
    spec_of,
    status_count,
)
from local.sim.controllers.deployments.sync import Sync
from local.sim.objects import Obj

_COUNTS = (
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "unavailableReplicas",
    "observedGeneration",
)


def complete(sync: Sync, status: Obj) -> bool:
    """Kubernetes' ``DeploymentComplete`` for ``status``."""
    return (
        int(status.get("updatedReplicas") or 0) == sync.replicas
        and int(status.get("replicas") or 0) == sync.replicas
        and int(status.get("availableReplicas") or 0) == sync.replicas
        and int(status.get("observedGeneration") or 0)
        >= int(sync.d["metadata"].get("generation", 1))
    )


def paused_condition(sync: Sync) -> None:
    """Mark pausing and resuming in the Progressing condition (when a deadline applies)."""
    if progress_deadline(sync.d) is None:
        return
    cond = status_condition(sync.status, "Progressing")
    if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
        return
    paused = cond is not None and cond.get("reason") == "DeploymentPaused"
    if spec_of(sync.d).get("paused") and not paused:
        set_condition(
            sync.status,
            new_condition(
                "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", sync.now
            ),
        )
    elif not spec_of(sync.d).get("paused") and paused:
        set_condition(
            sync.status,
            new_condition(
                "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", sync.now
            ),
        )


def _counts(sync: Sync) -> Obj:
    """Kubernetes' ``calculateStatus`` (without conditions); zero counts are omitted."""
    available = sum(status_count(rs, "availableReplicas") for rs in sync.rss)
    counts = {
        "replicas": sum(status_count(rs, "replicas") for rs in sync.rss),
        "updatedReplicas": status_count(sync.new, "replicas") if sync.new is not None else 0,
        "readyReplicas": sum(status_count(rs, "readyReplicas") for rs in sync.rss),
        "availableReplicas": available,
        "unavailableReplicas": max(sum(replicas_of(rs) for rs in sync.rss) - available, 0),
    }
    return counts


def write_status(sync: Sync, *, rollout: bool) -> None:
    """Write the Deployment's status if it changed; ``rollout``: update Progressing too."""
    old = sync.d.get("status") or {}
    status = {k: v for k, v in sync.status.items() if k not in _COUNTS}
    counts = _counts(sync)
    status.update({k: v for k, v in counts.items() if v})
    status["observedGeneration"] = sync.d["metadata"].get("generation", 1)
    if counts["availableReplicas"] >= sync.replicas - sync.unavailable:
        available = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    else:
        available = (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    set_condition(status, new_condition("Available", *available, sync.now))
    if rollout:
        _progress(sync, status, old)
    if status != old:
        _patch_status(sync, status)


def _progress(sync: Sync, status: Obj, old: Obj) -> None:
    """Kubernetes' ``syncRolloutStatus``: the Progressing condition."""
    deadline = progress_deadline(sync.d)
    if deadline is None:
        status["conditions"] = [
            c for c in status.get("conditions") or [] if c.get("type") != "Progressing"
        ]
        return
    current = status_condition(status, "Progressing")
    rs_name = sync.new["metadata"]["name"] if sync.new is not None else None
    subject = f'ReplicaSet "{rs_name}"' if rs_name else f'Deployment "{sync.name}"'
    if (
        status.get("replicas", 0) == status.get("updatedReplicas", 0)
        and current is not None
        and current.get("reason") == "NewReplicaSetAvailable"
    ):
        return
    if complete(sync, status):
        cond = new_condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f"{subject} has successfully progressed.",
            sync.now,
        )
        set_condition(status, cond)
    elif _progressing(status, old):
        cond = new_condition(
            "Progressing", "True", "ReplicaSetUpdated", f"{subject} is progressing.", sync.now
        )
        if current is not None and current["status"] == "True":
            cond["lastTransitionTime"] = current.get("lastTransitionTime")
        others = [c for c in status.get("conditions") or [] if c.get("type") != "Progressing"]
        status["conditions"] = [*others, cond]
    elif _timed_out(sync, current, deadline):
        cond = new_condition(
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            f"{subject} has timed out progressing.",
            sync.now,
        )
        set_condition(status, cond)
    current = status_condition(status, "Progressing")
    if (
        current is not None
        and current.get("reason") not in ("NewReplicaSetAvailable", "ProgressDeadlineExceeded")
        and current.get("lastUpdateTime")
    ):
        sync.c.requeue(sync.d, parse_rfc3339(current["lastUpdateTime"]) + deadline + 0.01)


def _progressing(status: Obj, old: Obj) -> bool:
    """Kubernetes' ``DeploymentProgressing``: any count moved the right way."""

    def count(s: Obj, field: str) -> int:
        return int(s.get(field) or 0)

    old_olds = count(old, "replicas") - count(old, "updatedReplicas")
    new_olds = count(status, "replicas") - count(status, "updatedReplicas")
    return (
        count(status, "updatedReplicas") > count(old, "updatedReplicas")
        or new_olds < old_olds
        or count(status, "readyReplicas") > count(old, "readyReplicas")
        or count(status, "availableReplicas") > count(old, "availableReplicas")
    )


def _timed_out(sync: Sync, current: Obj | None, deadline: int) -> bool:
    if current is None:
        return False
    if current.get("reason") == "ProgressDeadlineExceeded":
        return True
    if current.get("reason") == "NewReplicaSetAvailable" or not current.get("lastUpdateTime"):
        return False
    return parse_rfc3339(current["lastUpdateTime"]) + deadline < sync.now


def _patch_status(sync: Sync, status: Obj) -> None:
    sync.c.replace_status(sync.c.deploy_rt, sync.d, status)
