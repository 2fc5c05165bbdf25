"""start: a new revision of the target begins a canary (or restarts one from step 0).

The target (the canary) is scaled up to the primary's replicas with no traffic (without a
traffic router: to none, its steps' weights scale it), and a timer is set for
``progressDeadlineSeconds``: if the canary is not ready by then, ``abort`` ends it.
A revision that changed only the data of the ConfigMaps or Secrets of a canary still running
restarts it cold: scaled to zero first (``canary.emptied`` follows), so no Pod keeps the old
data. A revision equal to the stable one is a no-op at rest, and a fast rollback mid-rollout
(traffic back to the primary, canary scaled down). A revision already being rolled out is a
no-op. A person's ``retry.requested`` restarts an aborted rollout of the same revision from
step 0.
Analyses of the attempt being replaced are ended.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import events, facts, moves, revisions, transitions
from shared.analysis import runs
from shared.commands import Command
from shared.context import Context
from shared.events import Ext, Type
from shared.outcomes import Expect, Outcome, Turn
from shared.rollouts import Rollout
from shared.state import RolloutState, Stage

DETECTED = Expect(stages=frozenset(Stage) - {Stage.INITIALIZING, Stage.INVALID})
RETRY = Expect(stages=frozenset({Stage.ABORTED}), refusal="only an aborted rollout can be retried")


EMPTIED = Expect(stages=frozenset({Stage.SCALING}), attempt=True)


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    if event.get_type() == Type.RETRY_REQUESTED:
        return transitions.run_command(ctx, event, _retry, RETRY)
    if event.get_type() == Type.CANARY_EMPTIED:
        return transitions.run(ctx, event, _emptied, EMPTIED)
    revision = events.ext(event, Ext.REVISION)
    if not revision:
        raise events.MalformedEvent("revision.detected needs the revision extension")

    def detected(turn: Turn) -> Outcome | None:
        ctx, state, spec, rollout = turn.ctx, turn.state, turn.spec, turn.rollout
        if rollout.deleting:
            return None
        target = ctx.kube.deployment(state.namespace, spec.target)
        if target is None or revisions.of(ctx, target) != revision:
            return None  # the target moved on; the event for its newer revision follows
        if revision == state.stable_revision:
            if state.stage == Stage.HEALTHY:
                return None
            ended = _replaced(ctx, state, rollout)
            message = f"target reverted to the stable revision {revision}; canary abandoned"
            return Outcome(
                ended.to(
                    Stage.HEALTHY,
                    ctx.now(),
                    canary_revision="",
                    step=0,
                    weight=0,
                    routes=(),
                    pause_until=0.0,
                    scaled_down=True,
                    reason="RolledBack",
                    message=message,
                ),
                note=message,
            )
        if revision == state.canary_revision and state.stage != Stage.HEALTHY:
            return None
        restarted = state.stage != Stage.HEALTHY
        message = f"canary {revision}: scaling up" + (
            f" (restarted: replaces {state.canary_revision})" if restarted else ""
        )
        new, reply = moves.begin(ctx, _replaced(ctx, state, rollout), rollout, revision, message)
        return Outcome(new, reply=reply, note=message)

    return transitions.run(ctx, event, detected, DETECTED)


def _emptied(turn: Turn) -> Outcome | None:
    """A cold restart's canary has no Pods left: it scales up, each Pod with the new data."""
    state = turn.state
    if not state.cold:
        return None
    message = f"canary {state.canary_revision}: restarted with its new configuration; scaling up"
    return Outcome(state.with_(cold=False, message=message), note=message)


def _replaced(ctx: Context, state: RolloutState, rollout: Rollout) -> RolloutState:
    """``state`` with the current attempt's timers canceled and its analyses ended."""
    ctx.timers.cancel(facts.of_attempt(state, Type.DEADLINE_EXPIRED))
    ctx.timers.cancel(facts.of_attempt(state, Type.PAUSE_EXPIRED, step=state.step))
    return runs.terminate(ctx, state, rollout.obj)


def _retry(turn: Turn, command: Command) -> Outcome:
    ctx, state = turn.ctx, turn.state
    target = ctx.kube.deployment(state.namespace, turn.spec.target)
    if target is None or revisions.of(ctx, target) != state.canary_revision:
        return command.ignored(
            state, "the target changed since the abort; its new revision starts by itself"
        )
    message = f"retried by {command.user}: canary {state.canary_revision} from step 0"
    new, reply = moves.begin(ctx, state, turn.rollout, state.canary_revision, message)
    return command.done(new, message, reply=reply)
