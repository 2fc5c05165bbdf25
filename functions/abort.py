"""abort: ends a canary that must not go on, and puts all traffic back on the stable revision.

Reasons: an AnalysisRun ended Failed or Error (``analysis.failed``), a person asked
(``abort.requested``), a pre-rollout hook kept failing or a rollback hook said so
(``gate.failed``), or the canary was not ready within ``progressDeadlineSeconds``
(``deadline.expired``: an abort with ``progressDeadlineAbort``, otherwise the rollout is only
marked Degraded and the canary keeps trying). The weight goes to 0 at once and the running
analyses end; the canary is scaled down after ``abortScaleDownDelaySeconds`` (a timer;
``scaledown`` does it), or at once when it never became ready or when there is no traffic
router (its weight is its replicas). Phase Degraded, with the reason, the failing metric and
its value in the message; the stable revision keeps serving.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import events, facts, transitions
from shared.analysis import runs
from shared.analysis.model import AnalysisPhase
from shared.commands import Command
from shared.context import Context
from shared.events import Ext, Type
from shared.outcomes import Expect, Outcome, Turn
from shared.rollouts import Rollout
from shared.state import ACTIVE, RolloutState, Stage

REQUESTED = Expect(stages=ACTIVE, refusal="nothing to abort")
DEADLINE = Expect(stages=frozenset({Stage.SCALING}), attempt=True)
FAILED = Expect(stages=ACTIVE, attempt=True)


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    kind = event.get_type()
    if kind == Type.ABORT_REQUESTED:
        return transitions.run_command(ctx, event, _requested, REQUESTED)
    if kind == Type.DEADLINE_EXPIRED:
        return transitions.run(ctx, event, _deadline, DEADLINE)
    if kind == Type.GATE_FAILED:
        return transitions.run(ctx, event, _gate_failed, FAILED)
    if not events.ext(event, Ext.RUN):
        raise events.MalformedEvent(f"{kind} needs the run extension")
    return transitions.run(ctx, event, _failed, FAILED)


def _failed(turn: Turn) -> Outcome | None:
    run = runs.runs_of(turn.state).get(events.ext(turn.event, Ext.RUN) or "")
    if run is None or run.phase not in (AnalysisPhase.FAILED, AnalysisPhase.ERROR) or run.terminate:
        return None
    reason = "AnalysisFailed" if run.phase == AnalysisPhase.FAILED else "AnalysisError"
    return abort(turn.ctx, turn.state, turn.rollout, reason, runs.verdict(run))


def _gate_failed(turn: Turn) -> Outcome | None:
    data = events.data(turn.event)
    reason = str(data.get("reason") or "GateFailed")[:64]
    why = str(data.get("message") or "a hook asked to roll back")[:500]
    return abort(turn.ctx, turn.state, turn.rollout, reason, why)


def _deadline(turn: Turn) -> Outcome | None:
    ctx, state, spec = turn.ctx, turn.state, turn.spec
    why = (
        f"canary {state.canary_revision} was not ready within {spec.progress_deadline}s "
        "(progressDeadlineSeconds)"
    )
    if not spec.progress_deadline_abort:
        message = f"{why}; still waiting for it (progressDeadlineAbort is off)"
        return Outcome(
            state.to(Stage.STALLED, ctx.now(), reason="ProgressDeadlineExceeded", message=message),
            note=message,
            events=(("ProgressDeadlineExceeded", message, True),),
        )
    return abort(ctx, state, turn.rollout, "ProgressDeadlineExceeded", why, scale_now=True)


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
    ctx.timers.cancel(facts.of_attempt(state, Type.DEADLINE_EXPIRED))
    ended = runs.terminate(ctx, state, rollout.obj)
    delay = spec.abort_scale_down_delay
    # when the apex Service reaches the canary's Pods (no router, Istio subsets), weight 0 is
    # no canary Pods
    scaled_down = scale_now or rollout.shared_pods
    if scaled_down:
        after = "canary scaled down"
    elif delay > 0:
        ctx.timers.schedule(ctx.now() + delay, facts.of_attempt(state, Type.SCALEDOWN_ELAPSED))
        after = f"canary scaled down in {delay}s"
    else:
        after = "canary left running (abortScaleDownDelaySeconds: 0)"
    message = f"aborted: {why}; traffic back on {state.stable_revision}, {after}"
    return Outcome(
        ended.to(
            Stage.ABORTED,
            ctx.now(),
            weight=0,
            routes=(),
            reason=reason,
            message=message,
            paused_by="",
            scaled_down=scaled_down,
        ),
        reply=facts.of_attempt(state, Type.ROLLOUT_ABORTED),
        note=message,
        events=((reason, message, True),),
    )


def _requested(turn: Turn, command: Command) -> Outcome | None:
    never_ready = turn.state.stage in (Stage.SCALING, Stage.STALLED)
    outcome = abort(
        turn.ctx,
        turn.state,
        turn.rollout,
        "AbortedByUser",
        f"by {command.user}",
        scale_now=never_ready,
    )
    return command.done_as(outcome)
