"""Proportional scaling: a change of ``spec.replicas`` alone (or while paused) spread over the
ReplicaSets in proportion to their sizes, as Kubernetes' ``scale`` does.

Recognises such a scaling event from the ``desired-replicas`` annotations; rolls nothing out.
"""

from __future__ import annotations

import math

from local.sim.controllers.deployments.fields import (
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    by_creation,
    is_rolling,
    replicas_of,
    status_count,
)
from local.sim.controllers.deployments.sync import Sync
from local.sim.objects import Obj


def scaling_event(sync: Sync) -> bool:
    """Whether ``spec.replicas`` changed since the ReplicaSets were last sized."""
    for rs in sync.rss:
        if replicas_of(rs) <= 0:
            continue
        desired = (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
        if desired is not None and desired != str(sync.replicas):
            return True
    return False


def scale(sync: Sync) -> None:
    """Kubernetes' ``scale``: apply a new ``spec.replicas`` across the ReplicaSets."""
    active = [rs for rs in sync.rss if replicas_of(rs) > 0]
    if len(active) <= 1:
        target = active[0] if active else sync.new or (sync.olds[-1] if sync.olds else None)
        if target is not None and replicas_of(target) != sync.replicas:
            sync.scale_rs(target, sync.replicas)
        return
    new = sync.new
    if (
        new is not None
        and replicas_of(new) == sync.replicas
        and (new["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS) == str(sync.replicas)
        and status_count(new, "availableReplicas") == sync.replicas
    ):
        for rs in active:
            if rs is not new:
                sync.scale_rs(rs, 0)
        return
    if not is_rolling(sync.d):
        return
    allowed = sync.replicas + sync.surge if sync.replicas > 0 else 0
    to_add = allowed - sum(replicas_of(rs) for rs in active)
    # Larger first; on ties newer first when growing, older first when shrinking.
    active.sort(key=by_creation, reverse=to_add > 0)
    active.sort(key=replicas_of, reverse=True)
    sizes = []
    added = 0
    for rs in active:
        share = _proportion(sync, rs, to_add, added)
        sizes.append(replicas_of(rs) + share)
        added += share
    if sizes and to_add:
        sizes[0] = max(sizes[0] + to_add - added, 0)
    for rs, size in zip(active, sizes, strict=True):
        sync.scale_rs(rs, size)


def _proportion(sync: Sync, rs: Obj, to_add: int, added: int) -> int:
    if replicas_of(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    if sync.replicas == 0:
        fraction = -replicas_of(rs)
    else:
        try:
            before = int((rs["metadata"].get("annotations") or {}).get(MAX_REPLICAS, 0))
        except ValueError:
            before = 0
        before = before or status_count(sync.d, "replicas")
        if before == 0:
            return 0
        ideal = replicas_of(rs) * (sync.replicas + sync.surge) / before
        fraction = math.floor(ideal + 0.5) - replicas_of(rs)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)
