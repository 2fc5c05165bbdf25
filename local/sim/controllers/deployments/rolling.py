"""The RollingUpdate strategy: scale the new ReplicaSet up and old ones down within the bounds.

The new ReplicaSet grows by at most ``maxSurge`` above the desired replicas; old ones shrink,
unhealthy Pods first, only while at least ``replicas - maxUnavailable`` Pods stay available.
Says nothing about Recreate or a change of ``spec.replicas`` alone (``proportional``).
"""

from __future__ import annotations

from local.sim.controllers.deployments import status
from local.sim.controllers.deployments.fields import available_replicas, replicas_of
from local.sim.controllers.deployments.sync import Sync


def roll(sync: Sync) -> None:
    """One RollingUpdate step: grow the new ReplicaSet, shrink old ones, clean up when done."""
    sync.sync_revision(create=True)
    if sync.new is None:  # could not be created (a name collision): try again soon
        status.write_status(sync, rollout=True)
        return
    if (
        not _reconcile_new(sync)
        and not _reconcile_olds(sync)
        and status.complete(sync, sync.d.get("status") or {})
    ):
        sync.cleanup()
    status.write_status(sync, rollout=True)


def _reconcile_new(sync: Sync) -> bool:
    assert sync.new is not None
    size = replicas_of(sync.new)
    if size == sync.replicas:
        return False
    if size > sync.replicas:
        return sync.scale_rs(sync.new, sync.replicas)
    return sync.scale_rs(sync.new, sync.new_replicas(sync.new))


def _reconcile_olds(sync: Sync) -> bool:
    assert sync.new is not None
    if sum(replicas_of(rs) for rs in sync.olds) == 0:
        return False
    total = sum(replicas_of(rs) for rs in sync.rss)
    min_available = sync.replicas - sync.unavailable
    new_unavailable = replicas_of(sync.new) - available_replicas(sync.new)
    budget = total - min_available - new_unavailable
    if budget <= 0:
        return False
    cleaned = 0
    for rs in list(sync.olds):  # unhealthy replicas first, oldest ReplicaSet first
        if cleaned >= budget:
            break
        unhealthy = replicas_of(rs) - available_replicas(rs)
        if replicas_of(rs) == 0 or unhealthy <= 0:
            continue
        step = min(budget - cleaned, unhealthy)
        sync.scale_rs(rs, replicas_of(rs) - step)
        cleaned += step
    available = sum(available_replicas(rs) for rs in sync.rss)
    allowed = available - min_available
    scaled = 0
    for rs in list(sync.olds):
        if scaled >= allowed:
            break
        if replicas_of(rs) == 0:
            continue
        step = min(replicas_of(rs), allowed - scaled)
        sync.scale_rs(rs, replicas_of(rs) - step)
        scaled += step
    return cleaned + max(scaled, 0) > 0
