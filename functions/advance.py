"""advance: moves a canary to its next step once the current one is done.

``canary.scaled`` (the scaled-up canary is available) starts step 0; ``step.completed`` and
``pause.expired`` for step N, and ``analysis.succeeded`` for step N's AnalysisRun, start step
N+1; a person's ``promotion.requested`` leaves the current pause or analysis (with ``full``:
skips every remaining step). After the last step it asks for promotion. The background analysis
starts when its ``startingStep`` begins. Events for another revision, attempt, step or run are
stale and change nothing; nothing moves on while a person holds the rollout paused.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import events, facts, transitions
from shared.analysis import runs
from shared.commands import Command
from shared.context import Context
from shared.events import Ext, Type
from shared.outcomes import Expect, Outcome, Turn
from shared.rollouts import Rollout
from shared.state import RolloutState, Stage

SCALED = Expect(stages=frozenset({Stage.SCALING, Stage.STALLED}), attempt=True, unpaused=True)
COMPLETED = Expect(stages=frozenset({Stage.STEPPING}), attempt=True, step=True, unpaused=True)
EXPIRED = Expect(stages=frozenset({Stage.PAUSED}), attempt=True, step=True, unpaused=True)
SUCCEEDED = Expect(stages=frozenset({Stage.ANALYZING}), attempt=True, unpaused=True)
PROMOTABLE = frozenset(
    {Stage.SCALING, Stage.STALLED, Stage.STEPPING, Stage.ANALYZING, Stage.PAUSED}
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
    return next_step(turn.ctx, state, turn.rollout, -1)


def _succeeded(turn: Turn) -> Outcome | None:
    state = turn.state
    run = runs.runs_of(state).get(events.ext(turn.event, Ext.RUN) or "")
    if run is None or run.kind != runs.STEP or run.step != state.step:
        return None
    return next_step(turn.ctx, state, turn.rollout, state.step)


def _expired(turn: Turn) -> Outcome | None:
    if not turn.state.pause_until:
        return None  # an indefinite pause ends only by a promote
    return next_step(turn.ctx, turn.state, turn.rollout, turn.state.step)


def _completed(turn: Turn) -> Outcome:
    return next_step(turn.ctx, turn.state, turn.rollout, turn.state.step)


def next_step(
    ctx: Context, state: RolloutState, rollout: Rollout, current: int, *, note: str = ""
) -> Outcome:
    """Step ``current`` is done: start the following one (and the background analysis when
    its starting step begins), or ask for promotion after the last."""
    steps = rollout.spec.steps
    following = current + 1
    now = ctx.now()
    new = state.to(Stage.STEPPING, now, step=following, pause_until=0.0, pause_started=0.0)
    background = rollout.spec.background_analysis
    if (
        background is not None
        and following == min(background.starting_step, len(steps))
        and (not runs.active(new, runs.BACKGROUND))
    ):
        new = runs.start(
            ctx,
            new,
            rollout.obj,
            kind=runs.BACKGROUND,
            step=following,
            templates=background.templates,
            args=background.args,
        )
    prefix = f"{note}: " if note else ""
    if following >= len(steps):
        message = f"{prefix}all steps done; promoting"
        return Outcome(
            new.with_(reason="StepsCompleted", message=message),
            reply=facts.of_attempt(new, Type.PROMOTION_STARTED),
            note=message,
        )
    message = f"{prefix}step {following + 1}/{len(steps)}"
    return Outcome(
        new.with_(reason="StepStarted", message=message),
        reply=facts.of_attempt(new, Type.STEP_STARTED, step=following),
        note=message,
    )


def _promote_requested(turn: Turn, command: Command) -> Outcome | None:
    ctx, state, rollout = turn.ctx, turn.state, turn.rollout
    who = command.user
    resumed = state.with_(paused_by="")
    if command.full:
        if state.stage not in PROMOTABLE:
            return command.ignored(state, f"nothing to promote (phase {state.phase})")
        ended = runs.terminate(ctx, resumed, rollout.obj)
        ctx.timers.cancel(facts.of_attempt(state, Type.DEADLINE_EXPIRED))
        outcome = next_step(
            ctx, ended, rollout, len(rollout.spec.steps) - 1, note=f"fully promoted by {who}"
        )
        return command.done(outcome.state or ended, outcome.note, reply=outcome.reply)
    if state.stage in (Stage.PAUSED, Stage.ANALYZING):
        if state.stage == Stage.ANALYZING:
            resumed = runs.terminate(ctx, resumed, rollout.obj, runs.STEP)
        outcome = next_step(ctx, resumed, rollout, state.step, note=f"promoted by {who}")
        return command.done(outcome.state or resumed, outcome.note, reply=outcome.reply)
    if state.paused_by:
        return command.ignored(
            state, f"paused by {state.paused_by}; resume it first (or promote --full)"
        )
    return command.ignored(
        state,
        f"no pause or analysis to leave (phase {state.phase}, "
        f"step {state.step}); promote --full skips every step",
    )
