"""promote: every step is done, so the primary takes the canary's pod template.

The stage becomes ``promoting``, whose level (``shared.levels``) is the primary running the
canary's template; the primary rolls it out (its own Deployment rollout) and ``finalize``
follows once it is ready. Traffic stays where the last step left it until then. The background
analysis, if any, ends here (Successful unless it already decided otherwise).
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import facts, revisions, transitions, workloads
from shared.analysis import runs
from shared.context import Context
from shared.events import Type
from shared.outcomes import Expect, Outcome, Turn
from shared.state import Stage

EXPECT = Expect(stages=frozenset({Stage.STEPPING}), attempt=True, unpaused=True)


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    return transitions.run(ctx, event, _decide, EXPECT)


def _decide(turn: Turn) -> Outcome | None:
    ctx, state, ref, spec = turn.ctx, turn.state, turn.ref, turn.spec
    revision = state.canary_revision
    if state.step < len(spec.steps):
        return None
    target = ctx.kube.deployment(ref.namespace, spec.target)
    if target is None or revisions.of(ctx, target) != revision:
        return None  # a newer revision is on its way and restarts the rollout
    primary = ctx.kube.deployment(ref.namespace, spec.primary)  # takes the template once
    reply = None  # committed (shared.levels); a retry may find it done already
    if workloads.primary_revision(primary) == revision and workloads.is_ready(primary):
        reply = facts.of_attempt(state, Type.PRIMARY_UPDATED)
    message = f"promoting {revision}: {spec.primary} takes the canary's template"
    ended = runs.terminate(ctx, state, turn.rollout.obj, runs.BACKGROUND)
    return Outcome(
        ended.to(Stage.PROMOTING, ctx.now(), reason="Promoting", message=message),
        reply=reply,
        note=message,
    )
