"""reconcile: the periodic tick that heals whatever events missed.

For every rollout (in Redis or in Kubernetes) it compares desired, recorded and observed state
and re-emits the one event that should come next: an overdue pause or deadline, a canary or
primary that became ready unnoticed, a revision never detected, a lost reply. Re-emitted events
carry the same ids as the originals, so one that was in fact processed is deduplicated. It also
puts back what was changed by hand (canary weight, target replicas) and re-mirrors the status.
After the whole system was down, the first tick resumes every rollout where it was.
"""

from __future__ import annotations

import logging

from cloudevents.core.v1.event import CloudEvent

from shared import events, kube, models, rollouts, sink, status, transitions, workloads
from shared.context import Context
from shared.events import RolloutRef, Type
from shared.state import RolloutState, Stage

log = logging.getLogger(__name__)


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    refs = set(ctx.store.rollouts())
    refs.update(
        RolloutRef(r["metadata"]["namespace"], r["metadata"]["name"]) for r in ctx.kube.rollouts()
    )
    tick = events.key(event)
    for ref in sorted(refs, key=lambda r: r.subject):
        try:
            for follow_up in plan(ctx, ref, tick):
                sink.send(ctx.broker_url, follow_up)
        except (kube.Transient, sink.SinkError) as exc:
            log.warning("reconcile %s: %s (next tick retries)", ref.subject, exc)
    return None


def plan(ctx: Context, ref: RolloutRef, tick: str) -> list[CloudEvent]:
    """The events that move ``ref`` on, after healing drift (one list per rollout)."""
    state = ctx.store.load(ref)
    obj = ctx.kube.rollout(ref.namespace, ref.name)
    fresh = events.derived_id(tick, ref.subject)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        if obj is None and not state.exists:
            return []
        return [events.new(Type.ROLLOUT_DELETED, ref, event_id=fresh)]
    generation = int(obj["metadata"].get("generation", 0))
    changed = events.new(Type.ROLLOUT_CHANGED, ref, event_id=fresh, generation=generation)
    if (
        not state.exists
        or state.uid != obj["metadata"].get("uid")
        or (state.generation != generation)
    ):
        return [changed]
    if state.stage == Stage.INVALID:
        return []
    try:
        rollout = rollouts.load(ctx, ref)
    except models.InvalidSpec:
        return [changed]
    if rollout is None:
        return []
    _mirror_if_drifted(ctx, state, obj)
    spec = rollout.spec
    target = ctx.kube.deployment(ref.namespace, spec.target)
    primary = ctx.kube.deployment(ref.namespace, spec.primary)
    if state.stage == Stage.INITIALIZING:
        if primary is None:
            return [changed]
        if _ready_at(primary, state.stable_revision):
            return [_fact(Type.PRIMARY_UPDATED, state, state.stable_revision)]
        return []
    if target is None:
        return []
    revision = workloads.revision(target)
    expected = state.stable_revision if state.stage == Stage.HEALTHY else state.canary_revision
    if state.stage != Stage.PROMOTING and revision != expected:
        return [_fact(Type.REVISION_DETECTED, state, revision)]
    _heal(ctx, rollout, state, target, primary)
    now = ctx.now()
    if state.stage == Stage.SCALING:
        if workloads.is_ready(target):
            return [_fact(Type.CANARY_SCALED, state, state.canary_revision)]
        if now >= state.stage_since + spec.progress_deadline:
            return [_fact(Type.DEADLINE_EXPIRED, state, state.canary_revision)]
    elif state.stage == Stage.STEPPING:
        if state.step >= len(spec.steps):
            return [_fact(Type.PROMOTION_STARTED, state, state.canary_revision)]
        started = _fact(Type.STEP_STARTED, state, state.canary_revision, step=state.step)
        if ctx.store.processed(ref, events.key(started)):
            return [_fact(Type.STEP_COMPLETED, state, state.canary_revision, step=state.step)]
        return [started]
    elif state.stage == Stage.PAUSED and state.pause_until and now >= state.pause_until:
        return [_fact(Type.PAUSE_EXPIRED, state, state.canary_revision, step=state.step)]
    elif state.stage == Stage.PROMOTING and _ready_at(primary, state.canary_revision):
        return [_fact(Type.PRIMARY_UPDATED, state, state.canary_revision)]
    return []


def _ready_at(primary: dict[str, object] | None, revision: str) -> bool:
    return workloads.primary_revision(primary) == revision and workloads.is_ready(primary)


def _fact(type_: Type, state: RolloutState, revision: str, step: int | None = None) -> CloudEvent:
    if step is None:
        return events.new(type_, state.ref, revision=revision, attempt=state.attempt)
    return events.new(type_, state.ref, revision=revision, attempt=state.attempt, step=step)


def _heal(
    ctx: Context,
    rollout: rollouts.Rollout,
    state: RolloutState,
    target: dict[str, object],
    primary: dict[str, object] | None,
) -> None:
    """Put back a canary weight or a target scale that was changed by hand."""
    spec = rollout.spec
    weight = rollout.router.get_weight(spec)
    if weight is not None and weight != state.weight:
        log.warning(
            "%s: canary weight %s%% changed by hand; back to %s%%",
            state.ref.subject,
            weight,
            state.weight,
        )
        rollout.router.set_weight(spec, state.weight)
    if state.stage in (Stage.HEALTHY, Stage.ABORTED):
        want = 0
    elif state.stage in (Stage.SCALING, Stage.STEPPING, Stage.PAUSED):
        want = max(workloads.replicas(primary), 1)
    else:
        return
    if workloads.replicas(target) != want:
        log.warning(
            "%s: target scaled by hand to %s; back to %s",
            state.ref.subject,
            workloads.replicas(target),
            want,
        )
        ctx.kube.scale(spec.namespace, spec.target, want)


def _mirror_if_drifted(ctx: Context, state: RolloutState, obj: dict[str, object]) -> None:
    current = obj.get("status") or {}
    desired = status.of(state, ctx.now())
    assert isinstance(current, dict)
    keys = (
        "phase",
        "message",
        "stableRevision",
        "canaryRevision",
        "currentStepIndex",
        "canaryWeight",
        "observedGeneration",
    )
    if any(current.get(k) != desired[k] for k in keys):
        transitions.mirror(ctx, state)
