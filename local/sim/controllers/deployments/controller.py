"""The Deployment controller itself: which Deployments to look at, and one pass over each.

Queues a Deployment when it, one of its ReplicaSets or one of their Pods changes (and on resync),
and runs one pass per due Deployment, choosing between deleting, paused or proportional
scaling, RollingUpdate and Recreate. The work of each is in its own module.
"""

from __future__ import annotations

from local.sim import errors
from local.sim.controllers import garbage
from local.sim.controllers.base import (
    RESYNC_SECONDS,
    Controller,
    DueQueue,
    Every,
    Key,
    Settings,
    key_of,
)
from local.sim.controllers.deployments import proportional, recreate, rolling, status
from local.sim.controllers.deployments.fields import is_rolling, selector_of, spec_of
from local.sim.controllers.deployments.sync import Sync
from local.sim.events import DELETED, Event
from local.sim.objects import Obj
from local.sim.store import Store


class DeploymentController(Controller):
    """Creates, scales and cleans up the ReplicaSets of each Deployment; reports its status."""

    kinds = (("apps", "deployments"), ("apps", "replicasets"), ("", "pods"))

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(store, settings)
        self.deploy_rt = self.rt("apps", "deployments")
        self.rs_rt = self.rt("apps", "replicasets")
        self.pods_rt = self.rt("", "pods")
        self._queue: DueQueue[Key] = DueQueue()
        self._resync = Every(RESYNC_SECONDS)

    # -------------------------------------------------------------------- queueing

    def handle(self, event: Event) -> None:
        meta = event.obj["metadata"]
        namespace = meta.get("namespace", "")
        if event.key == self.deploy_rt.key:
            self._queue.enqueue((namespace, meta["name"]))
        elif event.key == self.rs_rt.key:
            for rs in (event.obj, event.old):
                if rs is not None:
                    self._enqueue_owner(rs)
        elif event.type == DELETED:  # Recreate waits for old Pods to be gone
            ref = garbage.controller_of(event.obj)
            if ref is not None and ref.get("kind") == "ReplicaSet":
                try:
                    rs = self.store.get(self.rs_rt, namespace, str(ref.get("name")))
                except errors.ApiError:
                    return
                self._enqueue_owner(rs)

    def _enqueue_owner(self, rs: Obj) -> None:
        namespace = rs["metadata"].get("namespace", "")
        ref = garbage.controller_of(rs)
        if ref is not None:
            if ref.get("kind") == "Deployment":
                self._queue.enqueue((namespace, str(ref.get("name"))))
            return
        labels = rs["metadata"].get("labels") or {}
        for d in self.store.list(self.deploy_rt, namespace)[0]:  # who might adopt it
            selector = selector_of(d)
            if selector is not None and selector.matches(labels):
                self._queue.enqueue((namespace, d["metadata"]["name"]))

    def tick(self) -> None:
        if self._resync.due():
            self.resync(self._queue, self.deploy_rt)
        for d in self.due_objects(self._queue, self.deploy_rt, self.clock.now()):
            run(Sync(self, d))

    def requeue(self, d: Obj, at: float) -> None:
        self._queue.enqueue(key_of(d), at)


def run(sync: Sync) -> None:
    """One pass over one Deployment: deleting, paused or scaling, or rolling out."""
    if sync.d["metadata"].get("deletionTimestamp"):
        status.write_status(sync, rollout=False)
        return
    status.paused_condition(sync)
    if spec_of(sync.d).get("paused") or proportional.scaling_event(sync):
        sync.sync_revision(create=False)
        proportional.scale(sync)
        if spec_of(sync.d).get("paused"):
            sync.cleanup()
        status.write_status(sync, rollout=False)
    elif is_rolling(sync.d):
        rolling.roll(sync)
    else:
        recreate.recreate(sync)
