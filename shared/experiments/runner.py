"""One look at an Experiment: decide its next move, commit it, bring its objects to it.

The ``experiment`` function hands every event about an Experiment here: a change of it or of
its Deployments (``experiment.changed``, also the tick's), or one of its timers
(``experiment.elapsed``: its progress deadline, the end of its duration, the removal of its Pods,
or a measurement of an analysis). The decision is level-based: from the Experiment's spec, its
state in Redis and what its Deployments report, the phase follows Argo's lifecycle —

1. ``Pending``: a Deployment per template (and a Service where asked) is created and scales
   up; none available within ``progressDeadlineSeconds`` ends it ``Failed``;
2. ``Running`` once every template is available: an AnalysisRun per analysis starts;
3. it ends ``Successful`` when its ``duration`` has passed and the analyses marked
   ``requiredForCompletion`` completed (without a duration: when those completed; with neither,
   when ``spec.terminate`` is set), ``Failed``/``Error`` as soon as an analysis does,
   ``Inconclusive`` when one is;
4. at the end its running analyses are terminated and, ``scaleDownDelaySeconds`` later, its
   Deployments and Services are deleted.

The commit is one compare-and-set of the experiment's state (a measurement request is marked
consumed with it, so a redelivery measures nothing twice); the objects follow the committed
state afterwards, and on every look (so a crash between the two heals on the next event or
tick). An Experiment of a Rollout's step that ends tells the Rollout
(``experiment.completed``, a hint: the Rollout reads the outcome from the state here).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from shared import events, kube, models
from shared.analysis import runs
from shared.analysis.model import AnalysisPhase
from shared.clock import rfc3339
from shared.context import Context
from shared.events import Ext, RolloutRef, Type
from shared.experiments import stacks
from shared.experiments.spec import (
    LABEL,
    PLURAL,
    STEP_LABEL,
    ExperimentSpec,
    Phase,
    parse,
)
from shared.models import InvalidSpec
from shared.routers import Backend
from shared.state import ACTIVE, AlreadyProcessed, Conflict, ExperimentState, RolloutState

log = logging.getLogger(__name__)

ATTEMPTS = 5
Obj = dict[str, Any]


@dataclass(frozen=True)
class Measurement:
    """What an ``experiment.elapsed`` for a measurement asks."""

    run: str
    metric: str
    index: int
    poll: int


Decide = Callable[
    [Context, ExperimentState, Obj, "Measurement | None"], tuple[ExperimentState, str]
]
"""A look's decision: the experiment's new state (as committed) and a note for its history."""


def run(ctx: Context, event: CloudEvent, decide: Decide) -> CloudEvent | None:
    """Carry out one look at the Experiment ``event`` is about: load, guard (its uid), decide,
    commit, converge, mirror, reply."""
    ref = RolloutRef.parse(event.get_subject())
    key = events.key(event)
    uid = events.ext(event, Ext.EXPERIMENT_UID)
    wanted = _measurement(event)
    for _ in range(ATTEMPTS):
        if wanted is not None and ctx.store.experiment_answer(ref, key):
            return None  # measured already
        old = ctx.store.load_experiment(ref)
        obj = ctx.kube.get(models.API_VERSION, PLURAL, ref.namespace, ref.name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            if obj is None and old.exists:
                try:
                    ctx.store.commit_experiment(old, None, event_key=key, history=None)
                except Conflict:
                    continue
                if old.owner and not (old.phase and Phase(old.phase).completed):
                    return _told(old, Type.EXPERIMENT_COMPLETED)  # its step ends in Error
            return None  # its Deployments, Services and runs are owned by it: collected
        live_uid = str(obj["metadata"].get("uid") or "")
        if uid and uid != live_uid:
            return None  # an event of a deleted namesake
        owner, owner_uid = owner_rollout(obj) or ("", "")
        state = (
            old
            if old.uid == live_uid
            else ExperimentState(
                ref.namespace,
                ref.name,
                version=old.version,
                uid=live_uid,
                owner=owner,
                owner_uid=owner_uid,
            )
        )
        new, note = decide(ctx, state, obj, wanted)
        reply = None
        if new != old:
            if ctx.before_commit is not None:
                ctx.before_commit(ctx.function)
            try:
                ctx.store.commit_experiment(
                    old,
                    new,
                    event_key=key,
                    history={
                        "event": event.get_type(),
                        "from": old.phase,
                        "to": new.phase,
                        "note": note,
                        "uid": new.uid,
                    },
                    consume=wanted is not None,
                )
            except Conflict:
                continue
            except AlreadyProcessed:
                return None
            log.info("experiment %s: %s", ref.subject, note or new.phase)
            if ctx.after_commit is not None:
                ctx.after_commit(ctx.function)
            if Phase(new.phase).completed and not (old.phase and Phase(old.phase).completed):
                reply = _told(new, Type.EXPERIMENT_COMPLETED)
            elif new.phase == Phase.RUNNING and old.phase != Phase.RUNNING:
                reply = _told(new, Type.EXPERIMENT_STARTED)
        converge(ctx, new, obj)
        mirror(ctx, ref, obj)
        return reply
    raise Conflict(f"experiment {ref.subject}: state kept changing; giving up for now")


def _measurement(event: CloudEvent) -> Measurement | None:
    if event.get_type() != Type.EXPERIMENT_ELAPSED or not events.ext(event, Ext.RUN):
        return None
    metric, index = events.ext(event, Ext.METRIC), events.ext_int(event, Ext.INDEX)
    if not metric or index is None:
        raise events.MalformedEvent(
            "a measurement's experiment.elapsed needs run, metric and index"
        )
    return Measurement(
        str(events.ext(event, Ext.RUN)), metric, index, events.ext_int(event, Ext.POLL) or 0
    )


def _spec(obj: Obj) -> ExperimentSpec | None:
    try:
        return parse(obj)
    except InvalidSpec:
        return None


def run_name(experiment: str, analysis: str) -> str:
    """The AnalysisRun of one of an experiment's analyses."""
    return f"{experiment}-{analysis}"


def timer(state: ExperimentState, what: str) -> CloudEvent:
    """A timer's ``experiment.elapsed`` (``what``: deadline, duration, removal)."""
    return events.new(
        Type.EXPERIMENT_ELAPSED,
        state.ref,
        event_id=events.derived_id(f"{state.namespace}/{state.name}/{state.uid}", what),
        experimentuid=state.uid,
    )


def ended(
    ctx: Context,
    state: ExperimentState,
    obj: Obj,
    phase: Phase,
    message: str,
    now: float,
    spec: ExperimentSpec | None,
) -> ExperimentState:
    ended = runs.terminate(ctx, state, obj)
    delay = spec.scale_down_delay if spec is not None else 0
    ended = ended.with_(phase=phase.value, message=message, ended_at=now)
    if delay:
        ctx.timers.schedule(now + delay, timer(ended, "removal"))
    return ended


def deployments(ctx: Context, spec: ExperimentSpec) -> dict[str, Obj | None]:
    return {
        t.name: ctx.kube.deployment(spec.namespace, spec.deployment(t.name)) for t in spec.templates
    }


def converge(ctx: Context, state: ExperimentState, obj: Obj) -> None:
    """Bring the experiment's Deployments and Services to its committed state: created while
    it runs, deleted ``scaleDownDelaySeconds`` after it ended. Only its own: an object of the
    name that another owns is never touched (the decision ends the experiment in Error). A
    write refused is left for the next look (the tick comes within a minute)."""
    spec = _spec(obj)
    if not state.phase:
        return
    try:
        if Phase(state.phase).completed:
            delay = spec.scale_down_delay if spec is not None else 0
            if ctx.now() >= state.ended_at + delay:
                remove(ctx, state.namespace, state.name, state.uid)
            return
        if spec is None:
            return
        for template in spec.templates:
            wanted = [stacks.deployment(spec, template, obj), stacks.service(spec, template, obj)]
            for desired in (w for w in wanted if w is not None):
                meta = desired["metadata"]
                plural = "deployments" if desired["kind"] == "Deployment" else "services"
                found = ctx.kube.get(desired["apiVersion"], plural, state.namespace, meta["name"])
                if found is None:
                    ctx.kube.create(desired)
    except (kube.ApiError, kube.Transient) as exc:
        log.warning("experiment %s: %s (the next look tries again)", state.ref.subject, exc)


def _owned(found: Obj, uid: str) -> bool:
    return any(o.get("uid") == uid for o in found["metadata"].get("ownerReferences") or [])


def foreign(
    ctx: Context, spec: ExperimentSpec, uid: str, found: dict[str, Obj | None]
) -> list[str]:
    """The objects the experiment would run that exist and are not its own (``Kind/name``);
    ``found``: its templates' Deployments, as :func:`deployments` read them."""
    taken = []
    for template in spec.templates:
        deployment = found.get(template.name)
        if deployment is not None and not _owned(deployment, uid):
            taken.append(f"Deployment/{spec.deployment(template.name)}")
        if template.service:
            service = ctx.kube.get("v1", "services", spec.namespace, template.service)
            if service is not None and not _owned(service, uid):
                taken.append(f"Service/{template.service}")
    return taken


def remove(ctx: Context, namespace: str, name: str, uid: str) -> None:
    """Delete what experiment ``name`` (of ``uid``) runs; level-based: what is gone stays
    gone, and what it does not own is never deleted."""
    selector = f"{LABEL}={name}"
    for api_version, plural in (("apps/v1", "deployments"), ("v1", "services")):
        for found in ctx.kube.list_of(api_version, plural, namespace, label_selector=selector):
            if _owned(found, uid):
                ctx.kube.delete(api_version, plural, namespace, found["metadata"]["name"])


def status_of(ctx: Context, state: ExperimentState, obj: Obj) -> dict[str, Any]:
    """``status`` of the Experiment (Argo's fields) from its state and its Deployments."""
    spec = _spec(obj)
    out: dict[str, Any] = {
        "phase": state.phase or Phase.PENDING.value,
        "message": state.message,
        "observedGeneration": int(obj["metadata"].get("generation", 0)),
    }
    if state.available_at:
        out["availableAt"] = rfc3339(state.available_at)
    if spec is not None:
        completed = bool(state.phase) and Phase(state.phase).completed
        found_deployments = deployments(ctx, spec) if not completed else {}
        statuses = []
        for t in spec.templates:
            deployment = found_deployments.get(t.name)
            if completed:
                shown = state.phase
            elif stacks.available(deployment):
                shown = "Running"
            else:
                shown = "Progressing"
            statuses.append(
                stacks.template_status(t, deployment, state.hashes.get(t.name, ""), shown)
            )
        out["templateStatuses"] = statuses
        found = runs.runs_of(state)
        out["analysisRuns"] = [
            {
                "name": a.name,
                "analysisRun": run_name(spec.name, a.name),
                "phase": (found[run_name(spec.name, a.name)].phase or AnalysisPhase.RUNNING).value
                if run_name(spec.name, a.name) in found
                else AnalysisPhase.PENDING.value,
                "message": found[run_name(spec.name, a.name)].message
                if run_name(spec.name, a.name) in found
                else "",
            }
            for a in spec.analyses
        ]
    return out


def mirror(ctx: Context, ref: RolloutRef, known: Obj) -> None:
    """Write the latest committed state into the Experiment's status, fenced as a rollout's
    is: the write is conditional on the object read and made from the state loaded after it,
    so a stale look never writes over a newer one (best effort: the next look heals a miss)."""

    def change(current: Obj) -> Obj | None:
        state = ctx.store.load_experiment(ref)
        if not state.exists or state.uid != current["metadata"].get("uid"):
            return None
        desired = status_of(ctx, state, current)
        shown = current.get("status") or {}
        if all(shown.get(k) == v for k, v in desired.items()):
            return None
        return {"status": desired}

    try:
        ctx.kube.fenced_patch(
            models.API_VERSION, PLURAL, ref.namespace, ref.name, change, sub="status", known=known
        )
    except (kube.Transient, kube.ApiError) as exc:
        log.warning("experiment %s: status not mirrored: %s", ref.subject, exc)


def owner_rollout(obj: Obj) -> tuple[str, str] | None:
    """The Rollout (name, uid) whose step made this Experiment, if one did."""
    labels = obj["metadata"].get("labels") or {}
    if STEP_LABEL not in labels:
        return None
    for owner in obj["metadata"].get("ownerReferences") or []:
        if owner.get("kind") == models.KIND and owner.get("controller"):
            return str(owner["name"]), str(owner.get("uid", ""))
    return None


def _told(state: ExperimentState, what: Type) -> CloudEvent | None:
    """``what`` for the Rollout whose step made the experiment (None when none did)."""
    if not state.owner:
        return None
    return events.new(
        what,
        RolloutRef(state.namespace, state.owner),
        rolloutuid=state.owner_uid,
        run=state.name,
    )


def backends(ctx: Context, state: RolloutState) -> tuple[Backend, ...]:
    """The templates of the rollout's running experiment step that get a share of traffic,
    each as its Service and weight (as the step made them): while the step waits for its
    Experiment and the Experiment runs (every template available), none otherwise, nor when
    they and the canary's weight would leave the stable revision less than nothing."""
    if state.stage not in ACTIVE:
        return ()
    run = next(
        (r for r in runs.active(state) if r.experiment and r.backends and r.step == state.step),
        None,
    )
    if run is None:
        return ()
    found = ctx.store.load_experiment(RolloutRef(state.namespace, run.name))
    if found.uid != run.uid or found.phase != Phase.RUNNING:
        return ()
    if state.weight + sum(weight for _, weight in run.backends) > 100:
        log.warning("%s: the experiment's weights and the canary's pass 100%%", state.ref.subject)
        return ()
    return tuple(Backend(service, weight) for service, weight in run.backends)


def outcome(ctx: Context, namespace: str, name: str, uid: str) -> tuple[Phase, str] | None:
    """How the Experiment ``name`` the step created (of ``uid``) ended, from its state; an
    Error when it was deleted (or replaced by another of that name); None while it runs."""
    state = ctx.store.load_experiment(RolloutRef(namespace, name))
    if state.uid == uid and state.phase and Phase(state.phase).completed:
        return Phase(state.phase), state.message
    live = ctx.kube.get(models.API_VERSION, PLURAL, namespace, name)
    if live is None or live["metadata"].get("uid") != uid:
        return Phase.ERROR, f"the Experiment {name} was deleted"
    return None
