"""scaledown: a scale-down delay has passed, so the target's Pods are removed.

``abortScaleDownDelaySeconds`` after an abort (traffic already went back to the stable revision
at the abort itself) the canary's Pods are removed. After a blue/green promotion, traffic
returns from the target's Pods to the primary (which runs the same revision now) and the
target keeps them ``scaleDownDelaySeconds`` more, so no request still on its way to them is
lost. A rollout that moved on since (retried, or a new revision) is not touched.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import events, transitions
from shared.context import Context
from shared.outcomes import Expect, Outcome, Turn
from shared.state import Stage

EXPECT = Expect(stages=frozenset({Stage.ABORTED, Stage.HEALTHY}))


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    return transitions.run(ctx, event, _decide, EXPECT)


def _decide(turn: Turn) -> Outcome | None:
    state = turn.state
    revision, attempt = events.attempt_of(turn.event)
    aborted = state.stage == Stage.ABORTED
    if state.scaled_down or attempt != state.attempt:
        return None
    if revision != (state.canary_revision if aborted else state.stable_revision):
        return None
    note = (
        f"canary {revision} scaled down after the abort"
        if aborted
        else f"{turn.spec.target} scaled down: traffic is on {turn.spec.primary} at {revision}"
    )
    return Outcome(state.with_(scaled_down=True), note=note)
