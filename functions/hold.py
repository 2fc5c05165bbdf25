"""hold: pauses a rollout (a person asked, or an analysis was inconclusive) and resumes it.

An inconclusive AnalysisRun pauses the rollout with the pause condition InconclusiveAnalysis
until someone promotes or aborts it. A person's pause is kept beside the stage (the rollout
stays where it is, its analyses keep measuring, but nothing moves on) until they resume it;
resuming replies with whatever the rollout was waiting for. Every command is recorded in the
history with who asked, also when there is nothing to do.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import commands, events, progress, rollouts, runs, transitions
from shared.analysis import AnalysisPhase
from shared.context import Context
from shared.events import Ext, RolloutRef, Type
from shared.state import ACTIVE, RolloutState, Stage
from shared.transitions import Outcome


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    ref = RolloutRef.parse(event.get_subject())
    kind = event.get_type()
    if kind == Type.ANALYSIS_UNDECIDED:
        return _undecided(event, ctx, ref)
    command = commands.of(event)

    def decide(state: RolloutState) -> Outcome | None:
        who = command.user
        if kind == Type.PAUSE_REQUESTED:
            if state.stage not in ACTIVE:
                return command.ignored(state, f"nothing to pause (phase {state.phase})")
            if state.paused_by:
                return command.ignored(state, f"already paused by {state.paused_by}")
            paused = state.with_(
                extra={**state.extra, "paused_by": who}, message=f"paused by {who}"
            )
            return command.done(paused, f"paused by {who}")
        if not state.paused_by:
            return command.ignored(state, "not paused by a person (use promote to continue)")
        resumed = state.with_(
            extra={k: v for k, v in state.extra.items() if k != "paused_by"},
            message=f"resumed by {who}",
        )
        rollout = rollouts.current(ctx, ref)
        follow = progress.next_events(ctx, resumed, rollout) if rollout else []
        return command.done(resumed, f"resumed by {who}", reply=follow[0] if follow else None)

    return transitions.run(ctx, event, decide)


def _undecided(event: CloudEvent, ctx: Context, ref: RolloutRef) -> CloudEvent | None:
    run_name = events.ext(event, Ext.RUN)
    attempt = events.ext_int(event, Ext.ATTEMPT)
    if not run_name or attempt is None:
        raise events.MalformedEvent("analysis.undecided needs the run and attempt extensions")

    def decide(state: RolloutState) -> Outcome | None:
        run = runs.runs_of(state).get(run_name)
        if (
            run is None
            or run.phase != AnalysisPhase.INCONCLUSIVE
            or state.attempt != attempt
            or state.stage not in (Stage.STEPPING, Stage.ANALYZING, Stage.PAUSED)
        ):
            return None
        if state.stage == Stage.PAUSED and state.reason == "InconclusiveAnalysis":
            return None
        now = ctx.now()
        message = f"analysis {run.name} was inconclusive; promote or abort to go on"
        if run.message:
            message += f" ({run.message})"
        return Outcome(
            state.to(
                Stage.PAUSED,
                now,
                pause_started=now,
                pause_until=0.0,
                reason="InconclusiveAnalysis",
                message=message,
            ),
            note=message,
        )

    return transitions.run(ctx, event, decide)
