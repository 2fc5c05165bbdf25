"""promote: every step is done, so the primary takes the canary's pod template.

The primary rolls out the new template (its own Deployment rollout); ``finalize`` follows once
it is ready. Traffic stays where the last step left it until then. The background analysis, if
any, ends here (Successful unless it already decided otherwise).
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import events, transitions, workloads
from shared.analysis import runs
from shared.context import Context
from shared.events import Type
from shared.state import Stage
from shared.transitions import Expect, Outcome, Turn

EXPECT = Expect(stages=frozenset({Stage.STEPPING}), attempt=True, unpaused=True)


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    return transitions.run(ctx, event, _decide, EXPECT)


def _decide(turn: Turn) -> Outcome | None:
    ctx, state, ref, spec = turn.ctx, turn.state, turn.ref, turn.spec
    revision = state.canary_revision
    if state.step < len(spec.steps):
        return None
    target = ctx.kube.deployment(ref.namespace, spec.target)
    if target is None or workloads.revision(target) != revision:
        return None  # a newer revision is on its way and restarts the rollout
    current = ctx.kube.deployment(ref.namespace, spec.primary)
    replicas = max(workloads.replicas(current), 1)
    primary = ctx.kube.ensure(
        workloads.primary(
            spec, target, turn.rollout.obj, replicas, by_replicas=turn.rollout.by_replicas
        )
    )
    reply = None
    if workloads.primary_revision(primary) == revision and workloads.is_ready(primary):
        reply = events.new(Type.PRIMARY_UPDATED, ref, revision=revision, attempt=state.attempt)
    message = f"promoting {revision}: {spec.primary} takes the canary's template"
    ended = runs.terminate(ctx, state, turn.rollout.obj, runs.BACKGROUND)
    return Outcome(
        ended.to(Stage.PROMOTING, ctx.now(), reason="Promoting", message=message),
        reply=reply,
        note=message,
    )
