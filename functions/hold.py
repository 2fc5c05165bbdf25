"""hold: pauses a rollout (a person asked, or an analysis was inconclusive) and resumes it.

An inconclusive AnalysisRun pauses the rollout with the pause condition InconclusiveAnalysis
until someone promotes or aborts it. A person's pause is kept beside the stage (the rollout
stays where it is, its analyses keep measuring, but nothing moves on) until they resume it;
resuming replies with whatever the rollout was waiting for. Every command is recorded in the
history with who asked, also when there is nothing to do.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import events, progress, rollouts, transitions
from shared.analysis import runs
from shared.analysis.model import AnalysisPhase
from shared.commands import Command
from shared.context import Context
from shared.events import Ext, Type
from shared.outcomes import Expect, Outcome, Turn
from shared.state import ACTIVE, Stage

PAUSE = Expect(stages=ACTIVE, refusal="nothing to pause", rollout=False)
RESUME = Expect(rollout=False)
UNDECIDED = Expect(stages=frozenset({Stage.STEPPING, Stage.ANALYZING, Stage.PAUSED}), rollout=False)


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    kind = event.get_type()
    if kind == Type.PAUSE_REQUESTED:
        return transitions.run_command(ctx, event, _pause, PAUSE)
    if kind == Type.RESUME_REQUESTED:
        return transitions.run_command(ctx, event, _resume, RESUME)
    run_name = events.ext(event, Ext.RUN)
    attempt = events.ext_int(event, Ext.ATTEMPT)
    if not run_name or attempt is None:
        raise events.MalformedEvent("analysis.undecided needs the run and attempt extensions")

    def undecided(turn: Turn) -> Outcome | None:
        state = turn.state
        run = runs.runs_of(state).get(run_name)
        if run is None or run.phase != AnalysisPhase.INCONCLUSIVE or state.attempt != attempt:
            return None
        if state.stage == Stage.PAUSED and state.reason == "InconclusiveAnalysis":
            return None
        now = turn.ctx.now()
        message = f"analysis {run.name} was inconclusive; promote or abort to go on"
        if run.message:
            message += f" ({run.message})"
        return Outcome(state.paused(now, "InconclusiveAnalysis", message), note=message)

    return transitions.run(ctx, event, undecided, UNDECIDED)


def _pause(turn: Turn, command: Command) -> Outcome:
    state, who = turn.state, command.user
    if state.paused_by:
        return command.ignored(state, f"already paused by {state.paused_by}")
    return command.done(state.with_(paused_by=who, message=f"paused by {who}"), f"paused by {who}")


def _resume(turn: Turn, command: Command) -> Outcome:
    state, who = turn.state, command.user
    if not state.paused_by:
        return command.ignored(state, "not paused by a person (use promote to continue)")
    resumed = state.with_(paused_by="", message=f"resumed by {who}")
    rollout = rollouts.current(turn.ctx, turn.ref)
    follow = progress.next_events(turn.ctx, resumed, rollout) if rollout else []
    return command.done(resumed, f"resumed by {who}", reply=follow[0] if follow else None)
