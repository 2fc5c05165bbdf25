"""abort: ends a canary that must not go on, and puts all traffic back on the stable revision.

Reasons: an AnalysisRun ended Failed or Error (``analysis.failed``), a person asked
(``abort.requested``), or the canary was not ready within ``progressDeadlineSeconds``
(``deadline.expired``: an abort with ``progressDeadlineAbort``, otherwise the rollout is only
marked Degraded and the canary keeps trying). The weight goes to 0 at once and the running
analyses end; the canary is scaled down after ``abortScaleDownDelaySeconds`` (a timer;
``scaledown`` does it), or at once when it never became ready. Phase Degraded, with the reason,
the failing metric and its value in the message; the stable revision keeps serving.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import commands, events, rollouts, runs, timers, transitions
from shared.analysis import AnalysisPhase
from shared.context import Context
from shared.events import Ext, RolloutRef, Type
from shared.rollouts import Rollout
from shared.state import ACTIVE, RolloutState, Stage
from shared.transitions import Outcome


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    ref = RolloutRef.parse(event.get_subject())
    kind = event.get_type()
    if kind == Type.ABORT_REQUESTED:
        return _requested(event, ctx, ref)
    revision, attempt = events.attempt_of(event)
    run_name = events.ext(event, Ext.RUN)
    if kind == Type.ANALYSIS_FAILED and not run_name:
        raise events.MalformedEvent(f"{kind} needs the run extension")

    def decide(state: RolloutState) -> Outcome | None:
        if state.canary_revision != revision or state.attempt != attempt:
            return None
        rollout = rollouts.current(ctx, ref)
        if rollout is None:
            return None
        if kind == Type.DEADLINE_EXPIRED:
            return _deadline(ctx, state, rollout)
        run = runs.runs_of(state).get(run_name or "")
        if (
            run is None
            or run.phase not in (AnalysisPhase.FAILED, AnalysisPhase.ERROR)
            or run.terminate
            or state.stage not in ACTIVE
        ):
            return None
        reason = "AnalysisFailed" if run.phase == AnalysisPhase.FAILED else "AnalysisError"
        return abort(ctx, state, rollout, reason, runs.verdict(run))

    return transitions.run(ctx, event, decide)


def _deadline(ctx: Context, state: RolloutState, rollout: Rollout) -> Outcome | None:
    if state.stage != Stage.SCALING:
        return None
    spec = rollout.spec
    why = (
        f"canary {state.canary_revision} was not ready within {spec.progress_deadline}s "
        "(progressDeadlineSeconds)"
    )
    if not spec.progress_deadline_abort:
        message = f"{why}; still waiting for it (progressDeadlineAbort is off)"
        ctx.kube.record_event(rollout.obj, "ProgressDeadlineExceeded", message, warning=True)
        return Outcome(
            state.to(Stage.STALLED, ctx.now(), reason="ProgressDeadlineExceeded", message=message),
            note=message,
        )
    return abort(ctx, state, rollout, "ProgressDeadlineExceeded", why, scale_now=True)


def abort(
    ctx: Context,
    state: RolloutState,
    rollout: Rollout,
    reason: str,
    why: str,
    *,
    scale_now: bool = False,
) -> Outcome:
    """Traffic back to stable, analyses ended, the canary scaled down now or after the delay."""
    spec = rollout.spec
    ref, revision, attempt = state.ref, state.canary_revision, state.attempt
    rollout.router.set_weight(spec, 0)
    ctx.timers.cancel(timers.deadline_id(ref.subject, revision, attempt))
    ended = runs.terminate(ctx, state, rollout.obj)
    delay = spec.abort_scale_down_delay
    extra = {k: v for k, v in ended.extra.items() if k != "paused_by"}
    if scale_now:
        ctx.kube.scale(ref.namespace, spec.target, 0)
        extra["scaled_down"] = "1"
        after = "canary scaled down"
    elif delay > 0:
        ctx.timers.schedule(
            timers.timer_id("scaledown", ref.subject, revision, attempt),
            ctx.now() + delay,
            events.new(Type.SCALEDOWN_ELAPSED, ref, revision=revision, attempt=attempt),
        )
        after = f"canary scaled down in {delay}s"
    else:
        after = "canary left running (abortScaleDownDelaySeconds: 0)"
    message = f"aborted: {why}; traffic back on {state.stable_revision}, {after}"
    ctx.kube.record_event(rollout.obj, reason, message, warning=True)
    return Outcome(
        ended.to(Stage.ABORTED, ctx.now(), weight=0, reason=reason, message=message, extra=extra),
        reply=events.new(Type.ROLLOUT_ABORTED, ref, revision=revision, attempt=attempt),
        note=message,
    )


def _requested(event: CloudEvent, ctx: Context, ref: RolloutRef) -> CloudEvent | None:
    command = commands.of(event)

    def decide(state: RolloutState) -> Outcome | None:
        if state.stage not in ACTIVE:
            return command.ignored(state, f"nothing to abort (phase {state.phase})")
        rollout = rollouts.current(ctx, ref)
        if rollout is None:
            return command.ignored(state, "the rollout is gone or its spec is invalid")
        never_ready = state.stage in (Stage.SCALING, Stage.STALLED)
        outcome = abort(
            ctx, state, rollout, "AbortedByUser", f"by {command.user}", scale_now=never_ready
        )
        assert outcome.state is not None
        return command.done(outcome.state, outcome.note, reply=outcome.reply)

    return transitions.run(ctx, event, decide)
