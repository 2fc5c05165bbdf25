"""Moves several transitions share: beginning an attempt at a revision, and going on to the next
step (or to promotion after the last). ``start`` and ``advance`` make them on their events; the
``gate`` function makes the one a gate held back, once the gate opens.

Each move first passes the gate that stands before it (``shared.gates``): a rollout whose spec
has closed gates of that point is held there instead (stage ``gated``), and the move is made
when the gate opens. Moves decide: they return the new state and its reply, scheduling timers
and starting AnalysisRuns as the transitions do, and write nothing that carries traffic.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import facts, gates, models, revisions, workloads
from shared.analysis import runs
from shared.context import Context
from shared.events import Type
from shared.models import RolloutSpec
from shared.outcomes import Outcome
from shared.rollouts import Rollout
from shared.state import RolloutState, Stage


def begin(
    ctx: Context,
    state: RolloutState,
    rollout: Rollout,
    revision: str,
    message: str,
    *,
    attempt: int | None = None,
) -> tuple[RolloutState, CloudEvent | None]:
    """A new attempt at ``revision`` (numbered ``attempt``, by default the next): the canary
    scaled up, its progress deadline set. The reply is ``canary.scaled`` when the canary is
    already up (a retry soon after an abort): no change of the target would announce it.
    Behind a closed ``confirm-rollout`` gate, the attempt waits there, its canary unscaled."""
    spec, ref, now = rollout.spec, state.ref, ctx.now()
    target = ctx.kube.deployment(ref.namespace, spec.target)
    template = workloads.revision(target) if target is not None else ""
    cold = bool(  # the same template running with other ConfigMap or Secret data
        target is not None
        and workloads.replicas(target) > 0
        and revision != state.canary_revision
        and template == state.template
    )
    new = state.to(
        Stage.SCALING,
        now,
        canary_revision=revision,
        step=0,
        weight=0,
        routes=(),
        attempt=state.attempt + 1 if attempt is None else attempt,
        pause_until=0.0,
        pause_started=0.0,
        stage_since=now,
        reason="NewRevision",
        message=message,
        runs={},
        paused_by="",
        scaled_down=False,
        gate="",
        gates_passed=() if attempt is None else state.gates_passed,
        gate_failures=0,
        template=template,
        cold=cold,
    )
    if cold:
        new = new.with_(
            message=f"{message} (restarting the canary: only its configuration changed)"
        )
    held = gates.hold(new, spec, gates.CONFIRM_ROLLOUT, now)
    if held is not None:
        return held, gates.poll(held, spec, held.gate, now)
    _check_rollback(ctx, new, spec, now)
    ctx.timers.schedule(now + spec.progress_deadline, facts.of_attempt(new, Type.DEADLINE_EXPIRED))
    primary = ctx.kube.deployment(ref.namespace, spec.primary)
    replicas = rollout.canary_replicas(0, 0, workloads.replicas(primary))
    ready = (
        not cold
        and target is not None
        and revisions.of(ctx, target) == revision
        and workloads.replicas(target) == replicas
        and workloads.canary_ready(target, by_replicas=rollout.by_replicas)
    )
    reply = facts.of_attempt(new, Type.CANARY_SCALED) if ready else None
    return new, reply


def next_step(
    ctx: Context,
    state: RolloutState,
    rollout: Rollout,
    current: int,
    *,
    note: str = "",
    gated: bool = True,
) -> Outcome:
    """Step ``current`` is done: start the following one (and the background analysis when
    its starting step begins), or ask for promotion after the last. A closed ``pre-rollout``
    gate holds the first step back, a ``confirm-promotion`` gate the promotion (``gated``
    false: a person's promote, which opens what it meets)."""
    steps = rollout.spec.steps
    following = current + 1
    now = ctx.now()
    keys = [
        *([gates.PRE_ROLLOUT] if current < 0 else []),
        *([gates.CONFIRM_PROMOTION] if following >= len(steps) else []),
    ]
    for key in keys if gated else []:
        held = gates.hold(state, rollout.spec, key, now)
        if held is not None:
            prefix = f"{note}: " if note else ""
            reply = gates.poll(held, rollout.spec, key, now)
            return Outcome(held, reply=reply, note=prefix + held.message)
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
    message = f"{prefix}{rollout.spec.step_label(following)}"
    return Outcome(
        new.with_(reason="StepStarted", message=message),
        reply=facts.of_attempt(new, Type.STEP_STARTED, step=following),
        note=message,
    )


def switchable(ctx: Context, rollout: Rollout, index: int) -> bool:
    """Whether step ``index`` may move traffic now: blue/green's switch waits for the preview
    at full size and ready (with ``previewReplicaCount`` it ran smaller until then); any other
    step moves at once."""
    spec, blue_green = rollout.spec, rollout.spec.blue_green
    if blue_green is None or index != blue_green.switch_step:
        return True
    primary = ctx.kube.deployment(spec.namespace, spec.primary)
    target = ctx.kube.deployment(spec.namespace, spec.target)
    want = blue_green.replicas(index, workloads.replicas(primary))
    return workloads.replicas(target) == want and workloads.is_ready(target)


def set_weight(ctx: Context, state: RolloutState, rollout: Rollout, index: int) -> Outcome:
    """Step ``index``, a ``setWeight``: the weight committed (the router follows, after the
    commit), unless a closed ``confirm-traffic-increase`` gate holds a raise back."""
    spec, now = rollout.spec, ctx.now()
    step = spec.steps[index]
    assert isinstance(step, models.SetWeight)
    if models.raises_weight(step, state.weight):
        key = gates.traffic_key(index)
        held = gates.hold(state, spec, key, now)
        if held is not None:
            return Outcome(held, reply=gates.poll(held, spec, key, now), note=held.message)
    message = f"{spec.step_label(index)}: canary weight {step.weight}%"
    if spec.blue_green is not None:
        message = f"switch: {spec.service.name} sends all traffic to {state.canary_revision}"
    done = facts.of_attempt(state, Type.STEP_COMPLETED, step=index)
    moved = state.to(Stage.STEPPING, now, weight=step.weight, message=message)
    return Outcome(moved, reply=done, note=message)


def _check_rollback(ctx: Context, state: RolloutState, spec: RolloutSpec, now: float) -> None:
    """Start the rollback checks of a new attempt (each check sets the next)."""
    if spec.hooks_of(gates.ROLLBACK):
        ctx.timers.schedule(*gates.next_poll(state, spec, gates.ROLLBACK, now))
