"""abort: ends a canary that cannot go on, and puts all traffic back on the stable revision.

Today the reason is a progress deadline: the canary did not become ready within
``progressDeadlineSeconds``. The weight goes to 0 first, then the canary is scaled down; the
phase becomes Degraded with the reason, and the stable revision keeps serving.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import events, models, rollouts, transitions
from shared.context import Context
from shared.events import Ext, RolloutRef, Type
from shared.state import RolloutState, Stage
from shared.transitions import Outcome


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    ref = RolloutRef.parse(event.get_subject())
    revision = events.ext(event, Ext.REVISION)
    attempt = events.ext_int(event, Ext.ATTEMPT)
    if not revision or attempt is None:
        raise events.MalformedEvent("deadline.expired needs the revision and attempt extensions")

    def decide(state: RolloutState) -> Outcome | None:
        if (
            state.stage != Stage.SCALING
            or state.canary_revision != revision
            or state.attempt != attempt
        ):
            return None
        try:
            rollout = rollouts.load(ctx, ref)
        except models.InvalidSpec:
            return None
        if rollout is None:
            return None
        rollout.router.set_weight(rollout.spec, 0)
        ctx.kube.scale(ref.namespace, rollout.spec.target, 0)
        message = (
            f"canary {revision} was not ready within {rollout.spec.progress_deadline}s "
            f"(progressDeadlineSeconds); rolled back to {state.stable_revision}"
        )
        ctx.kube.record_event(rollout.obj, "ProgressDeadlineExceeded", message, warning=True)
        return Outcome(
            state.to(
                Stage.ABORTED,
                ctx.now(),
                weight=0,
                reason="ProgressDeadlineExceeded",
                message=message,
            ),
            reply=events.new(Type.ROLLOUT_ABORTED, ref, revision=revision, attempt=attempt),
            note=message,
        )

    return transitions.run(ctx, event, decide)
