"""finalize: the primary is ready, so the rollout comes to rest (phase Healthy).

After initialization: the Services and the router's objects are put in place (weight 0) and the
target is scaled to 0. After a promotion: the canary weight returns to 0, the target is scaled
to 0 and the new revision becomes the stable one. Either way the copies of ConfigMaps and
Secrets that neither the new stable revision nor the ``revisionHistoryLimit`` before it use are
deleted. If the target already moved on to another revision, the next rollout is started.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import configs, events, facts, revisions, transitions, workloads
from shared.context import Context
from shared.events import Type
from shared.outcomes import Expect, Outcome, Turn
from shared.state import Stage

EXPECT = Expect(stages=frozenset({Stage.INITIALIZING, Stage.PROMOTING}))


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    revision, attempt = events.attempt_of(event)

    def decide(turn: Turn) -> Outcome | None:
        ctx, state, ref, spec = turn.ctx, turn.state, turn.ref, turn.spec
        initializing = state.stage == Stage.INITIALIZING and state.stable_revision == revision
        promoting = state.stage == Stage.PROMOTING and state.canary_revision == revision
        if state.attempt != attempt or not (initializing or promoting):
            return None
        primary = ctx.kube.deployment(ref.namespace, spec.primary)
        if workloads.primary_revision(primary) != revision or not workloads.is_ready(primary):
            return None
        target = ctx.kube.deployment(ref.namespace, spec.target)
        if target is None:
            return None
        for service in turn.rollout.services(target):
            ctx.kube.ensure(service)
        turn.rollout.router.reconcile(spec, turn.rollout.obj)
        if initializing:
            message = f"initialized: {spec.primary} serves revision {revision}"
            notice = Type.ROLLOUT_INITIALIZED
        else:
            message = f"promoted: revision {revision} is stable"
            notice = Type.ROLLOUT_PROMOTED
        pinned = (
            (revision, configs.pinned_names(primary)),
            *(kept for kept in state.pinned if kept[0] != revision),
        )[: spec.revision_history_limit + 1]
        kept = {name for _, names in pinned for name in names}
        seen = kept | {name for _, names in state.pinned for name in names}
        configs.collect(ctx.kube, ref.namespace, turn.rollout.uid, kept, seen)
        reply = facts.of(state, notice, revision=revision, attempt=attempt)
        blue_green = spec.blue_green
        warm = promoting and blue_green is not None and blue_green.scale_down_delay > 0
        if warm:  # the target's Pods served until now: they stay while traffic moves back
            assert blue_green is not None
            elapsed = facts.of(state, Type.SCALEDOWN_ELAPSED, revision=revision, attempt=attempt)
            ctx.timers.schedule(ctx.now() + blue_green.scale_down_delay, elapsed)
        current = revisions.of(ctx, target)
        if current != revision:
            reply = facts.of(state, Type.REVISION_DETECTED, revision=current, attempt=attempt)
        return Outcome(
            state.to(
                Stage.HEALTHY,
                ctx.now(),
                blocked="",
                stable_revision=revision,
                canary_revision="",
                weight=0,
                routes=(),
                pinned=pinned,
                scaled_down=not warm,
                step=len(spec.steps) if promoting else 0,
                pause_until=0.0,
                reason="RolloutCompleted" if promoting else "Initialized",
                message=message,
            ),
            reply=reply,
            note=message,
        )

    return transitions.run(ctx, event, decide, EXPECT)
