"""promote: every step is done, so the primary takes the canary's pod template.

The primary rolls out the new template (its own Deployment rollout); ``finalize`` follows once
it is ready. Traffic stays where the last step left it until then. The background analysis, if
any, ends here (Successful unless it already decided otherwise).
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import events, rollouts, runs, transitions, workloads
from shared.context import Context
from shared.events import RolloutRef, Type
from shared.state import RolloutState, Stage
from shared.transitions import Outcome


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    ref = RolloutRef.parse(event.get_subject())
    revision, attempt = events.attempt_of(event)

    def decide(state: RolloutState) -> Outcome | None:
        if (
            state.stage != Stage.STEPPING
            or state.canary_revision != revision
            or state.attempt != attempt
            or state.paused_by
        ):
            return None
        rollout = rollouts.current(ctx, ref)
        if rollout is None or state.step < len(rollout.spec.steps):
            return None
        spec = rollout.spec
        target = ctx.kube.deployment(ref.namespace, spec.target)
        if target is None or workloads.revision(target) != revision:
            return None  # a newer revision is on its way and restarts the rollout
        current = ctx.kube.deployment(ref.namespace, spec.primary)
        replicas = max(workloads.replicas(current), 1)
        primary = ctx.kube.ensure(workloads.primary(spec, target, rollout.obj, replicas))
        reply = None
        if workloads.primary_revision(primary) == revision and workloads.is_ready(primary):
            reply = events.new(Type.PRIMARY_UPDATED, ref, revision=revision, attempt=attempt)
        message = f"promoting {revision}: {spec.primary} takes the canary's template"
        ended = runs.terminate(ctx, state, rollout.obj, runs.BACKGROUND)
        return Outcome(
            ended.to(Stage.PROMOTING, ctx.now(), reason="Promoting", message=message),
            reply=reply,
            note=message,
        )

    return transitions.run(ctx, event, decide)
