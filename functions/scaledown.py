"""scaledown: the abort's scale-down delay has passed, so the aborted canary is scaled to 0.

``abortScaleDownDelaySeconds`` after an abort (traffic already went back to the stable revision
at the abort itself) the canary's Pods are removed. A rollout that moved on since (retried, or a
new revision) is not touched.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import transitions
from shared.context import Context
from shared.outcomes import Expect, Outcome, Turn
from shared.state import Stage

EXPECT = Expect(stages=frozenset({Stage.ABORTED}), attempt=True)


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    return transitions.run(ctx, event, _decide, EXPECT)


def _decide(turn: Turn) -> Outcome | None:
    state = turn.state
    if state.scaled_down:
        return None
    note = f"canary {state.canary_revision} scaled down after the abort"
    return Outcome(state.with_(scaled_down=True), note=note)
