"""scaledown: the abort's scale-down delay has passed, so the aborted canary is scaled to 0.

``abortScaleDownDelaySeconds`` after an abort (traffic already went back to the stable revision
at the abort itself) the canary's Pods are removed. A rollout that moved on since (retried, or a
new revision) is not touched.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import events, rollouts, transitions
from shared.context import Context
from shared.events import RolloutRef
from shared.state import RolloutState, Stage
from shared.transitions import Outcome


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    ref = RolloutRef.parse(event.get_subject())
    revision, attempt = events.attempt_of(event)

    def decide(state: RolloutState) -> Outcome | None:
        if (
            state.stage != Stage.ABORTED
            or state.canary_revision != revision
            or state.attempt != attempt
            or state.extra.get("scaled_down") == "1"
        ):
            return None
        rollout = rollouts.current(ctx, ref)
        if rollout is None:
            return None
        ctx.kube.scale(ref.namespace, rollout.spec.target, 0)
        note = f"canary {revision} scaled down after the abort"
        return Outcome(state.with_(extra={**state.extra, "scaled_down": "1"}), note=note)

    return transitions.run(ctx, event, decide)
