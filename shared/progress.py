"""What a rollout is waiting for: the event that would move it on, from its state and the cluster.

The reconcile tick uses it to re-emit what was lost (an overdue pause or deadline, a canary or
primary that became ready unnoticed, a measurement whose timer never fired, a reply lost after a
commit); ``resume`` uses it to continue at once. Re-emitted transition events carry the ids of
the originals, so one that was processed after all is deduplicated by its receiver; measurement
requests get fresh ids (``fresh``) and are guarded by the measurement index instead. It reads,
never writes.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import events, facts, gates, models, revisions, workloads
from shared.analysis import runs
from shared.context import Context
from shared.events import Type
from shared.experiments import runner
from shared.rollouts import Rollout
from shared.state import ACTIVE, RolloutState, Stage


def fact(type_: Type, state: RolloutState, revision: str, step: int | None = None) -> CloudEvent:
    """A transition event about ``state``'s current attempt (the id its emitter gave it)."""
    if step is None:
        return facts.of(state, type_, revision=revision, attempt=state.attempt)
    return facts.of(state, type_, revision=revision, attempt=state.attempt, step=step)


def ready_at(deployment: dict[str, object] | None, revision: str) -> bool:
    return workloads.primary_revision(deployment) == revision and workloads.is_ready(deployment)


def next_events(
    ctx: Context, state: RolloutState, rollout: Rollout, *, fresh: str = ""
) -> list[CloudEvent]:
    """The events ``state`` is waiting for that are due now (usually none or one)."""
    spec = rollout.spec
    now = ctx.now()
    due = _measurements(ctx, state, now, fresh) + _experiments(ctx, state)
    if state.paused_by:
        return due  # analyses keep measuring; nothing else moves while a person holds it
    target = ctx.kube.deployment(state.namespace, spec.target)
    primary = ctx.kube.deployment(state.namespace, spec.primary)
    if state.stage == Stage.INITIALIZING:
        if ready_at(primary, state.stable_revision):
            return [fact(Type.PRIMARY_UPDATED, state, state.stable_revision)]
        return []
    if target is None:
        return due
    revision = revisions.of(ctx, target)
    expected = state.stable_revision if state.stage == Stage.HEALTHY else state.canary_revision
    if state.stage != Stage.PROMOTING and revision != expected:
        return [fact(Type.REVISION_DETECTED, state, revision)]
    canary = state.canary_revision
    checks = spec.hooks_of(gates.ROLLBACK)
    if checks and state.stage in ACTIVE:  # the rollback checks' chain of timers may be lost
        due = [*due, gates.poll(state, spec, gates.ROLLBACK, now)]
    if state.stage == Stage.GATED:
        return [*due, gates.poll(state, spec, state.gate, now), *_outcomes(state)]
    if state.stage == Stage.SCALING and state.cold:
        if workloads.is_empty(target):
            return [fact(Type.CANARY_EMPTIED, state, canary)]
    elif state.stage in (Stage.SCALING, Stage.STALLED):
        if workloads.canary_ready(target, by_replicas=rollout.by_replicas):
            return [fact(Type.CANARY_SCALED, state, canary)]
        if state.stage == Stage.SCALING and now >= state.stage_since + spec.progress_deadline:
            return [fact(Type.DEADLINE_EXPIRED, state, canary)]
    elif state.stage == Stage.STEPPING:
        if state.step >= len(spec.steps):
            return [fact(Type.PROMOTION_STARTED, state, canary)]
        started = fact(Type.STEP_STARTED, state, canary, step=state.step)
        if ctx.store.processed(state.ref, events.key(started)) and isinstance(
            spec.steps[state.step], models.INSTANT_STEPS
        ):
            return [fact(Type.STEP_COMPLETED, state, canary, step=state.step)]
        return [started]
    elif state.stage == Stage.PAUSED and state.pause_until and now >= state.pause_until:
        return [fact(Type.PAUSE_EXPIRED, state, canary, step=state.step)]
    elif state.stage == Stage.PROMOTING and ready_at(primary, canary):
        return [fact(Type.PRIMARY_UPDATED, state, canary)]
    elif (
        state.stage == Stage.ABORTED
        and spec.abort_scale_down_delay > 0
        and not state.scaled_down
        and now >= state.stage_since + spec.abort_scale_down_delay
    ):
        return [fact(Type.SCALEDOWN_ELAPSED, state, canary)]
    elif (
        state.stage == Stage.HEALTHY
        and spec.blue_green is not None
        and not state.scaled_down
        and now >= state.stage_since + spec.blue_green.scale_down_delay
    ):
        return [fact(Type.SCALEDOWN_ELAPSED, state, state.stable_revision)]
    return due + _outcomes(state)


def _outcomes(state: RolloutState) -> list[CloudEvent]:
    """Outcome events of completed runs whose reply may have been lost."""
    out = []
    for run in runs.runs_of(state).values():
        if run.phase is None or run.terminate:
            continue
        if run.kind == runs.STEP and not (
            state.stage == Stage.ANALYZING and run.step == state.step
        ):
            continue
        event = runs.outcome_event(state, run.name)
        if event is not None:
            out.append(event)
    return out


def _experiments(ctx: Context, state: RolloutState) -> list[CloudEvent]:
    """``experiment.completed`` for an experiment step's Experiment that ended (or was
    deleted) while its hint was lost."""
    return [
        facts.of(state, Type.EXPERIMENT_COMPLETED, run=run.name)
        for run in runs.active(state)
        if run.experiment and runner.outcome(ctx, state.namespace, run.name, run.uid) is not None
    ]


GRACE = 2.0
"""Seconds past its due time after which a measurement's timer is taken for lost."""


def _measurements(ctx: Context, state: RolloutState, now: float, fresh: str) -> list[CloudEvent]:
    """Requests for measurements whose timer should have fired by now."""
    return [
        _request(state, run.name, metric, index, poll, fresh)
        for run in runs.active(state)
        for metric, (index, at, poll) in sorted(run.due.items())
        if now >= at + GRACE
    ]


def _request(
    state: RolloutState, run: str, metric: str, index: int, poll: int, fresh: str
) -> CloudEvent:
    """The timer's event; with ``fresh``, a new id (the measurement index guards it)."""
    event_id = events.derived_id(fresh, f"{run}/{metric}/{index}") if fresh else None
    return runs.measurement_event(state, run, metric, index, poll, event_id=event_id)
