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

from shared import commands, events, rollouts, runs, timers, transitions
from shared.context import Context
from shared.events import Ext, RolloutRef, Type
from shared.rollouts import Rollout
from shared.state import RolloutState, Stage
from shared.transitions import Outcome


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    ref = RolloutRef.parse(event.get_subject())
    kind = event.get_type()
    if kind == Type.PROMOTION_REQUESTED:
        return _promote_requested(event, ctx, ref)
    revision, attempt = events.attempt_of(event)
    step = events.ext_int(event, Ext.STEP)
    run_name = events.ext(event, Ext.RUN)
    needs_step = kind in (Type.STEP_COMPLETED, Type.PAUSE_EXPIRED)
    if (needs_step and step is None) or (kind == Type.ANALYSIS_SUCCEEDED and not run_name):
        raise events.MalformedEvent(f"{kind} needs the step (or run) extension")

    def decide(state: RolloutState) -> Outcome | None:
        if state.canary_revision != revision or state.attempt != attempt or state.paused_by:
            return None
        if kind == Type.CANARY_SCALED:
            if state.stage not in (Stage.SCALING, Stage.STALLED):
                return None
            ctx.timers.cancel(timers.deadline_id(ref.subject, revision, attempt))
            current = -1
        elif kind == Type.ANALYSIS_SUCCEEDED:
            run = runs.runs_of(state).get(run_name or "")
            if (
                state.stage != Stage.ANALYZING
                or run is None
                or run.kind != runs.STEP
                or (run.step != state.step)
            ):
                return None
            current = state.step
        else:
            if kind == Type.PAUSE_EXPIRED:
                if state.stage != Stage.PAUSED or not state.pause_until:
                    return None
            elif state.stage != Stage.STEPPING:
                return None
            if state.step != step:
                return None
            current = state.step
        rollout = rollouts.current(ctx, ref)
        if rollout is None:
            return None
        return next_step(ctx, state, rollout, current)

    return transitions.run(ctx, event, decide)


def next_step(
    ctx: Context, state: RolloutState, rollout: Rollout, current: int, *, note: str = ""
) -> Outcome:
    """Step ``current`` is done: start the following one (and the background analysis when
    its starting step begins), or ask for promotion after the last."""
    ref, revision, attempt = state.ref, state.canary_revision, state.attempt
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
            reply=events.new(Type.PROMOTION_STARTED, ref, revision=revision, attempt=attempt),
            note=message,
        )
    message = f"{prefix}step {following + 1}/{len(steps)}"
    return Outcome(
        new.with_(reason="StepStarted", message=message),
        reply=events.new(
            Type.STEP_STARTED, ref, revision=revision, attempt=attempt, step=following
        ),
        note=message,
    )


def _promote_requested(event: CloudEvent, ctx: Context, ref: RolloutRef) -> CloudEvent | None:
    command = commands.of(event)

    def decide(state: RolloutState) -> Outcome | None:
        rollout = rollouts.current(ctx, ref)
        if rollout is None:
            return command.ignored(state, "the rollout is gone or its spec is invalid")
        who = command.user
        resumed = state.with_(extra={k: v for k, v in state.extra.items() if k != "paused_by"})
        if command.full:
            if state.stage not in (
                Stage.SCALING,
                Stage.STALLED,
                Stage.STEPPING,
                Stage.ANALYZING,
                Stage.PAUSED,
            ):
                return command.ignored(state, f"nothing to promote (phase {state.phase})")
            ended = runs.terminate(ctx, resumed, rollout.obj)
            ctx.timers.cancel(timers.deadline_id(ref.subject, state.canary_revision, state.attempt))
            outcome = next_step(
                ctx, ended, rollout, len(rollout.spec.steps) - 1, note=f"fully promoted by {who}"
            )
            return command.done(outcome.state or ended, outcome.note, reply=outcome.reply)
        if state.stage == Stage.PAUSED or (state.stage == Stage.ANALYZING):
            current = state.step
            if state.stage == Stage.ANALYZING:
                resumed = runs.terminate(ctx, resumed, rollout.obj, runs.STEP)
            outcome = next_step(ctx, resumed, rollout, current, note=f"promoted by {who}")
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

    return transitions.run(ctx, event, decide)
