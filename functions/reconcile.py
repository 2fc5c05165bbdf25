"""reconcile: the periodic tick that heals whatever events missed.

For every rollout (in Redis or in Kubernetes) it compares desired, recorded and observed state
and re-emits the one event that should come next: an overdue pause or deadline, a canary or
primary that became ready unnoticed, a revision never detected, a lost reply. Re-emitted events
carry the same ids as the originals, so one that was in fact processed is deduplicated. It also
puts back what was changed by hand (canary weight, replicas, the primary's template) and
re-mirrors the status; it asks for a look at every Experiment too, and wakes the load
generator of a rollout whose load nothing generates. After the whole system was
down, the first tick resumes every rollout and experiment where it was. ``drift.detected`` (an
owned object's watch event showed it changed) heals one rollout at once, without waiting for
the tick.
"""

from __future__ import annotations

import logging

from cloudevents.core.v1.event import CloudEvent

from shared import (
    events,
    kube,
    levels,
    loads,
    models,
    progress,
    revisions,
    rollouts,
    routers,
    sink,
    status,
    transitions,
)
from shared.analysis import runs
from shared.clock import epoch
from shared.context import Context
from shared.events import RolloutRef, Type
from shared.experiments import steps
from shared.experiments.spec import Phase
from shared.state import ACTIVE, RolloutState, Stage

log = logging.getLogger(__name__)


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    if event.get_type() in (Type.DRIFT_DETECTED, Type.EXPERIMENT_STARTED):
        heal(ctx, RolloutRef.parse(event.get_subject()))
        return None
    refs = set(ctx.store.rollouts())
    refs.update(
        RolloutRef(r["metadata"]["namespace"], r["metadata"]["name"]) for r in ctx.kube.rollouts()
    )
    tick = events.key(event)
    _experiments(ctx, tick)
    for ref in sorted(refs, key=lambda r: r.subject):
        try:
            for follow_up in [*plan(ctx, ref, tick), *_notifications(ctx, ref, tick)]:
                sink.send(ctx.broker_url, follow_up, token=ctx.broker_token)
        except (kube.Transient, sink.SinkError) as exc:
            log.warning("reconcile %s: %s (next tick retries)", ref.subject, exc)
        try:
            for hint in _load(ctx, ref, tick):
                sink.send(ctx.broker_url, hint, token=ctx.broker_token)
        except (kube.Transient, sink.SinkError) as exc:
            log.warning("reconcile %s: load: %s (next tick retries)", ref.subject, exc)
    return None


def _experiments(ctx: Context, tick: str) -> None:
    """A look at every Experiment (in Redis or in Kubernetes): one that timed out, ended or was
    deleted while its events were lost moves on, and what it runs follows."""
    refs = set(ctx.store.experiments())
    refs.update(
        RolloutRef(e["metadata"]["namespace"], e["metadata"]["name"])
        for e in ctx.kube.list_of(models.API_VERSION, models.EXPERIMENT_PLURAL)
    )
    for ref in sorted(refs, key=lambda r: r.subject):
        look = events.new(
            Type.EXPERIMENT_CHANGED,
            ref,
            event_id=events.derived_id(tick, f"experiment/{ref.subject}"),
        )
        try:
            sink.send(ctx.broker_url, look, token=ctx.broker_token)
        except sink.SinkError as exc:
            log.warning("reconcile experiment %s: %s (next tick retries)", ref.subject, exc)


def _notifications(ctx: Context, ref: RolloutRef, tick: str) -> list[CloudEvent]:
    """Wake the notifier when the history is newer than what its last pass saw (a lost
    hint); it finds for itself whether anything is due."""
    seen = ctx.store.notifications(ref).get("seen", "0-0")
    if ctx.store.history_head(ref) == seen or not ctx.store.load(ref).exists:
        return []
    fresh = events.derived_id(tick, f"notify/{ref.subject}")
    return [events.new(Type.MILESTONE_REACHED, ref, event_id=fresh)]


def _load(ctx: Context, ref: RolloutRef, tick: str) -> list[CloudEvent]:
    """Wake the load generator when nothing generates a rollout's load and its hint may have
    been lost: a run not recorded as stopped, or a canary in its steps whose spec asks for
    load. It decides for itself what is wanted."""
    if ctx.store.load_leased(ref):
        return []
    progress_ = ctx.store.load_progress(ref)
    if not (progress_.get("run") and not progress_.get("stopped")):
        state = ctx.store.load(ref)
        if state.stage not in loads.RUNNING:
            return []
        try:
            rollout = rollouts.load(ctx, ref)
        except models.InvalidSpec:
            return []
        if rollout is None or not isinstance(
            loads.wanted(state, rollout.spec, progress_, ctx.now()), loads.Plan
        ):
            return []
    fresh = events.derived_id(tick, f"load/{ref.subject}")
    return [events.new(Type.LOAD_REQUESTED, ref, event_id=fresh)]


def heal(ctx: Context, ref: RolloutRef) -> None:
    """Put back at once what was changed by hand in what Ferry keeps for ``ref`` (its watch
    event told): the Services, the routing objects and the levels of the committed state."""
    state = ctx.store.load(ref)
    rollout = rollouts.current(ctx, ref)
    if rollout is None or rollout.deleting or not levels.differences(ctx, rollout, state):
        return
    target = ctx.kube.deployment(ref.namespace, rollout.spec.target)
    if target is not None and state.stage not in (Stage.INITIALIZING, Stage.INVALID):
        for service in rollout.services(target):
            ctx.kube.ensure(service)
        try:
            rollout.router.reconcile(rollout.spec, rollout.obj)
        except routers.NotReady as exc:
            log.warning("%s: %s", ref.subject, exc)  # initialize reports it on its next event
    levels.converge(ctx, rollout, drift=True)


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
    _end_orphans(ctx, state, rollout)
    target = ctx.kube.deployment(ref.namespace, rollout.spec.target)
    if target is not None and state.stage not in (Stage.INITIALIZING,):
        expected = state.stable_revision if state.stage == Stage.HEALTHY else state.canary_revision
        if state.stage == Stage.PROMOTING or revisions.of(ctx, target) == expected:
            levels.converge(ctx, rollout, drift=True)  # what was changed by hand goes back
    return progress.next_events(ctx, state, rollout, fresh=fresh)


def _end_orphans(ctx: Context, state: RolloutState, rollout: rollouts.Rollout) -> None:
    """Terminate the step Experiments of this rollout that nothing waits for: made by a step
    whose commit lost to an abort or a promote. Listed first and judged against the state
    loaded after, and never one younger than :data:`ORPHAN_AGE` (a step's own, made before it
    commits, is waited for once it has)."""
    if not any(isinstance(step, models.Experiment) for step in rollout.spec.steps):
        return
    selector = f"{runs.ROLLOUT_LABEL}={state.name}"
    found = ctx.kube.list_of(
        models.API_VERSION, models.EXPERIMENT_PLURAL, state.namespace, label_selector=selector
    )
    state = ctx.store.load(state.ref)
    waited = {run.name for run in runs.active(state) if run.experiment}
    if state.stage in ACTIVE:
        waited.add(steps.name(state, state.step))
    for experiment in found:
        meta = experiment["metadata"]
        made = epoch(meta.get("creationTimestamp"))
        spec, status_ = experiment.get("spec") or {}, experiment.get("status") or {}
        if (
            meta["name"] in waited
            or spec.get("terminate")
            or status_.get("phase") in ENDED
            or made is None
            or ctx.now() < made + ORPHAN_AGE
            or not steps.owned_by(experiment, rollout.obj)
        ):
            continue
        log.info(
            "%s: experiment %s is waited for by no step; terminating it",
            state.ref.subject,
            meta["name"],
        )
        runs.stop_experiment(ctx, state.namespace, meta["name"])


ORPHAN_AGE = 60.0
"""Seconds an Experiment of a step is left alone after it was made, whatever the state says."""
ENDED = frozenset(phase.value for phase in Phase if phase.completed)


def _mirror_if_drifted(ctx: Context, state: RolloutState, obj: dict[str, object]) -> None:
    current = obj.get("status") or {}
    desired = status.of(state, ctx.now(), blue_green=status.is_blue_green(obj))
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
        transitions.mirror(ctx, state.ref)  # with the recent history, as after every commit
