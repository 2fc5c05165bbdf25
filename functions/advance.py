"""advance: moves a canary to its next step once the current one is done.

``canary.scaled`` (the scaled-up canary is available) starts step 0; ``step.completed`` and
``pause.expired`` for step N start step N+1. After the last step it asks for promotion. Events
for another revision, attempt or step are stale and change nothing.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import events, models, rollouts, timers, transitions
from shared.context import Context
from shared.events import Ext, RolloutRef, Type
from shared.state import RolloutState, Stage
from shared.transitions import Outcome


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    ref = RolloutRef.parse(event.get_subject())
    revision = events.ext(event, Ext.REVISION)
    attempt = events.ext_int(event, Ext.ATTEMPT)
    step = events.ext_int(event, Ext.STEP)
    kind = event.get_type()
    if not revision or attempt is None or (kind != Type.CANARY_SCALED and step is None):
        raise events.MalformedEvent(f"{kind} needs the revision, attempt and step extensions")

    def decide(state: RolloutState) -> Outcome | None:
        if state.canary_revision != revision or state.attempt != attempt:
            return None
        if kind == Type.CANARY_SCALED:
            if state.stage != Stage.SCALING:
                return None
            ctx.timers.cancel(timers.deadline_id(ref.subject, revision, attempt))
            current = -1
        else:
            expected = Stage.PAUSED if kind == Type.PAUSE_EXPIRED else Stage.STEPPING
            if state.stage != expected or state.step != step:
                return None
            current = state.step
        try:
            rollout = rollouts.load(ctx, ref)
        except models.InvalidSpec:
            return None
        if rollout is None:
            return None
        following = current + 1
        now = ctx.now()
        new = state.to(Stage.STEPPING, now, step=following, pause_until=0.0, pause_started=0.0)
        if following >= len(rollout.spec.steps):
            message = "all steps done; promoting"
            return Outcome(
                new.with_(reason="StepsCompleted", message=message),
                reply=events.new(Type.PROMOTION_STARTED, ref, revision=revision, attempt=attempt),
                note=message,
            )
        message = f"step {following + 1}/{len(rollout.spec.steps)}"
        return Outcome(
            new.with_(reason="StepStarted", message=message),
            reply=events.new(
                Type.STEP_STARTED, ref, revision=revision, attempt=attempt, step=following
            ),
            note=message,
        )

    return transitions.run(ctx, event, decide)
