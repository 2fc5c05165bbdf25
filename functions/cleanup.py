"""cleanup: a Rollout is being deleted, so Ferry hands the target back and removes what it made.

The target is scaled back up to the primary's replicas; once it is ready, the apex Service is
pointed at the target's Pods, then the primary, the ``-primary``/``-canary`` Services and the
router's objects are deleted, the finalizer is removed and the state is dropped (its history is
kept). Until the target is ready, each event is acknowledged and the next change of the target
brings the next attempt, so traffic is never left without ready Pods.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import models, routers, transitions, workloads
from shared.context import Context
from shared.outcomes import Outcome, Turn


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    return transitions.run(ctx, event, _decide)


def _decide(turn: Turn) -> Outcome | None:
    ctx, ref = turn.ctx, turn.ref
    obj = ctx.kube.rollout(ref.namespace, ref.name)
    if obj is not None and not obj["metadata"].get("deletionTimestamp"):
        return None
    if obj is not None:
        try:
            spec = models.parse(obj)
        except models.InvalidSpec:
            spec = None
        if spec is not None and not _hand_back(ctx, spec):
            return None
        ctx.kube.set_finalizer(obj, models.FINALIZER, present=False)
    if not turn.state.exists:
        return None
    return Outcome(None, note="rollout deleted; target handed back")


def _hand_back(ctx: Context, spec: models.RolloutSpec) -> bool:
    """Serve from the target again; False while the target is not ready yet."""
    kube = ctx.kube
    target = kube.deployment(spec.namespace, spec.target)
    primary = kube.deployment(spec.namespace, spec.primary)
    if target is not None and primary is not None:
        want = max(workloads.replicas(primary), 1)
        if workloads.replicas(target) < want:
            kube.scale(spec.namespace, spec.target, want)
            return False
        if not workloads.is_ready(target):
            return False
    if target is not None and kube.get("v1", "services", spec.namespace, spec.service.name):
        kube.ensure(workloads.apex_for_target(spec, target))
    routers.get(spec.router, kube).finalize(spec)
    named = spec.blue_green is not None and spec.blue_green.preview_named
    for service in (spec.primary_service, *(() if named else (spec.canary_service,))):
        kube.delete("v1", "services", spec.namespace, service)  # a named preview is the user's
    kube.delete("apps/v1", "deployments", spec.namespace, spec.primary)
    return True
