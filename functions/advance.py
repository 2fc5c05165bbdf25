"""advance: moves a canary to its next step once the current one is done.

``canary.scaled`` (the scaled-up canary is available) starts step 0; ``step.completed`` and
``pause.expired`` for step N, and ``analysis.succeeded`` for step N's AnalysisRun, start step
N+1; a person's ``promotion.requested`` leaves the current pause or analysis (with ``full``:
skips every remaining step and gate; a person's promote opens the promotion gate it meets).
After the last step it asks for promotion. The background analysis starts when its
``startingStep`` begins. Events for another revision, attempt, step or run are stale and change
nothing; nothing moves on while a person holds the rollout paused. The moves themselves are
``shared.moves`` (the gate function makes them too, once a gate opens).
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import events, facts, moves, transitions
from shared.analysis import runs
from shared.commands import Command
from shared.context import Context
from shared.events import Ext, Type
from shared.outcomes import Expect, Outcome, Turn
from shared.state import Stage

SCALED = Expect(stages=frozenset({Stage.SCALING, Stage.STALLED}), attempt=True, unpaused=True)
COMPLETED = Expect(stages=frozenset({Stage.STEPPING}), attempt=True, step=True, unpaused=True)
EXPIRED = Expect(stages=frozenset({Stage.PAUSED}), attempt=True, step=True, unpaused=True)
SUCCEEDED = Expect(stages=frozenset({Stage.ANALYZING}), attempt=True, unpaused=True)
PROMOTABLE = frozenset(
    {Stage.SCALING, Stage.STALLED, Stage.STEPPING, Stage.ANALYZING, Stage.PAUSED, Stage.GATED}
)


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    kind = event.get_type()
    if kind == Type.PROMOTION_REQUESTED:
        return transitions.run_command(ctx, event, _promote_requested, Expect())
    if kind == Type.CANARY_SCALED:
        return transitions.run(ctx, event, _scaled, SCALED)
    if kind == Type.ANALYSIS_SUCCEEDED:
        if not events.ext(event, Ext.RUN):
            raise events.MalformedEvent(f"{kind} needs the run extension")
        return transitions.run(ctx, event, _succeeded, SUCCEEDED)
    if kind == Type.PAUSE_EXPIRED:
        return transitions.run(ctx, event, _expired, EXPIRED)
    return transitions.run(ctx, event, _completed, COMPLETED)


def _scaled(turn: Turn) -> Outcome:
    state = turn.state
    turn.ctx.timers.cancel(facts.of_attempt(state, Type.DEADLINE_EXPIRED))
    return moves.next_step(turn.ctx, state, turn.rollout, -1)


def _succeeded(turn: Turn) -> Outcome | None:
    state = turn.state
    run = runs.runs_of(state).get(events.ext(turn.event, Ext.RUN) or "")
    if run is None or run.kind != runs.STEP or run.step != state.step:
        return None
    return moves.next_step(turn.ctx, state, turn.rollout, state.step)


def _expired(turn: Turn) -> Outcome | None:
    if not turn.state.pause_until:
        return None  # an indefinite pause ends only by a promote
    return moves.next_step(turn.ctx, turn.state, turn.rollout, turn.state.step)


def _completed(turn: Turn) -> Outcome:
    return moves.next_step(turn.ctx, turn.state, turn.rollout, turn.state.step)


def _promote_requested(turn: Turn, command: Command) -> Outcome | None:
    ctx, state, rollout = turn.ctx, turn.state, turn.rollout
    who = command.user
    resumed = state.with_(paused_by="")
    if command.full:
        if state.stage not in PROMOTABLE:
            return command.ignored(state, f"nothing to promote (phase {state.phase})")
        ended = runs.terminate(ctx, resumed, rollout.obj).with_(gate="")
        ctx.timers.cancel(facts.of_attempt(state, Type.DEADLINE_EXPIRED))
        last = len(rollout.spec.steps) - 1
        blue_green = rollout.spec.blue_green
        if blue_green is not None and state.weight < 100:
            # blue/green still switches in one write: at once when the preview is ready at
            # full size, else at its switch step (which waits for it)
            if moves.switchable(ctx, rollout, blue_green.switch_step):
                ended = ended.with_(weight=100)
            else:
                last = blue_green.switch_step - 1
        outcome = moves.next_step(
            ctx, ended, rollout, last, note=f"fully promoted by {who}", gated=False
        )
        return command.done(outcome.state or ended, outcome.note, reply=outcome.reply)
    if state.stage in (Stage.PAUSED, Stage.ANALYZING):
        if state.stage == Stage.ANALYZING:
            resumed = runs.terminate(ctx, resumed, rollout.obj, runs.STEP)
        outcome = moves.next_step(
            ctx, resumed, rollout, state.step, note=f"promoted by {who}", gated=False
        )
        return command.done(outcome.state or resumed, outcome.note, reply=outcome.reply)
    if state.paused_by:
        return command.ignored(
            state, f"paused by {state.paused_by}; resume it first (or promote --full)"
        )
    if state.stage == Stage.GATED:
        return command.ignored(
            state, f"waiting at gate {state.gate}: confirm opens it (promote --full skips it)"
        )
    return command.ignored(
        state,
        f"no pause or analysis to leave (phase {state.phase}, "
        f"step {state.step}); promote --full skips every step",
    )
