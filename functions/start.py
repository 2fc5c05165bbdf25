"""start: a new revision of the target begins a canary (or restarts one from step 0).

The target (the canary) is scaled up to the primary's replicas with no traffic, and a timer is
set for ``progressDeadlineSeconds``: if the canary is not ready by then, ``abort`` ends it.
A revision equal to the stable one is a no-op at rest, and a fast rollback mid-rollout (traffic
back to the primary, canary scaled down). A revision already being rolled out is a no-op.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import events, models, rollouts, timers, transitions, workloads
from shared.context import Context
from shared.events import Ext, RolloutRef, Type
from shared.state import RolloutState, Stage
from shared.transitions import Outcome


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    ref = RolloutRef.parse(event.get_subject())
    revision = events.ext(event, Ext.REVISION)
    if not revision:
        raise events.MalformedEvent("revision.detected needs the revision extension")

    def decide(state: RolloutState) -> Outcome | None:
        if not state.exists or state.stage in (Stage.INITIALIZING, Stage.INVALID):
            return None
        try:
            rollout = rollouts.load(ctx, ref)
        except models.InvalidSpec:
            return None
        if rollout is None or rollout.deleting:
            return None
        spec = rollout.spec
        target = ctx.kube.deployment(ref.namespace, spec.target)
        if target is None or workloads.revision(target) != revision:
            return None  # the target moved on; the event for its newer revision follows
        now = ctx.now()
        if revision == state.stable_revision:
            if state.stage == Stage.HEALTHY:
                return None
            rollout.router.set_weight(spec, 0)
            ctx.kube.scale(ref.namespace, spec.target, 0)
            ctx.timers.cancel(timers.deadline_id(ref.subject, state.canary_revision, state.attempt))
            message = f"target reverted to the stable revision {revision}; canary abandoned"
            return Outcome(
                state.to(
                    Stage.HEALTHY,
                    now,
                    canary_revision="",
                    step=0,
                    weight=0,
                    pause_until=0.0,
                    reason="RolledBack",
                    message=message,
                ),
                note=message,
            )
        if revision == state.canary_revision and state.stage != Stage.HEALTHY:
            return None
        if state.stage != Stage.HEALTHY:
            rollout.router.set_weight(spec, 0)
            ctx.timers.cancel(timers.deadline_id(ref.subject, state.canary_revision, state.attempt))
        primary = ctx.kube.deployment(ref.namespace, spec.primary)
        ctx.kube.scale(ref.namespace, spec.target, max(workloads.replicas(primary), 1))
        attempt = state.attempt + 1
        ctx.timers.schedule(
            timers.deadline_id(ref.subject, revision, attempt),
            now + spec.progress_deadline,
            events.new(Type.DEADLINE_EXPIRED, ref, revision=revision, attempt=attempt),
        )
        restarted = state.stage != Stage.HEALTHY
        message = f"canary {revision}: scaling up" + (
            f" (restarted: replaces {state.canary_revision})" if restarted else ""
        )
        return Outcome(
            state.to(
                Stage.SCALING,
                now,
                canary_revision=revision,
                step=0,
                weight=0,
                attempt=attempt,
                pause_until=0.0,
                pause_started=0.0,
                stage_since=now,
                reason="NewRevision",
                message=message,
            ),
            note=message,
        )

    return transitions.run(ctx, event, decide)
