"""The Recreate strategy: old ReplicaSets to 0, wait until their Pods are gone, then the new one.

Never lets old and new Pods run together; bounds and surges are RollingUpdate's (``rolling``).
"""

from __future__ import annotations

from local.sim.controllers import garbage, kubelet
from local.sim.controllers.deployments import status
from local.sim.controllers.deployments.fields import replicas_of, status_count
from local.sim.controllers.deployments.sync import Sync


def recreate(sync: Sync) -> None:
    """One Recreate step: old ReplicaSets down and their Pods gone before the new one grows."""
    sync.sync_revision(create=False)
    scaled_down = False
    for rs in sync.olds:
        if replicas_of(rs) > 0:
            scaled_down |= sync.scale_rs(rs, 0)
    if scaled_down or _old_pods_running(sync):
        status.write_status(sync, rollout=True)
        return
    if sync.new is None:
        sync.sync_revision(create=True)
    if sync.new is not None and replicas_of(sync.new) != sync.replicas:
        sync.scale_rs(sync.new, sync.replicas)
    if status.complete(sync, sync.d.get("status") or {}):
        sync.cleanup()
    status.write_status(sync, rollout=True)


def _old_pods_running(sync: Sync) -> bool:
    if any(status_count(rs, "replicas") > 0 for rs in sync.olds):
        return True
    old_uids = {rs["metadata"]["uid"] for rs in sync.olds}
    for pod in sync.store.list(sync.c.pods_rt, sync.namespace)[0]:
        ref = garbage.controller_of(pod)
        if ref is not None and ref.get("uid") in old_uids and not kubelet.is_terminal(pod):
            return True
    return False
