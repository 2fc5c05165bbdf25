"""detect: turns Kubernetes object changes (ApiServerSource) into Ferry's domain events.

A Rollout created or changed -> ``rollout.changed``; a Rollout being deleted -> ``rollout.deleted``;
a target Deployment with a new pod template, or a ConfigMap a target references with new data
(a reference: its data never travels) -> ``revision.detected``; the canary (target) ready
at the rollout's canary revision -> ``canary.scaled``; a primary ready at the revision it was
given -> ``primary.updated``; a stable Ingress changed -> ``rollout.changed`` (its canary copy
follows); a person's new command in a Rollout's ``status.commands`` -> its ``*.requested``
event; a measurement Job that finished -> ``measurement.requested`` (the measurement is read);
an object Ferry keeps for a rollout (its canary Ingress, Services, the primary, the target's
scale, the routes and splits of its router) changed away from what the state says ->
``drift.detected``; an Experiment (not its status alone) or one of its Deployments changed ->
``experiment.changed``; a measurement Job of an experiment's analysis finished ->
``experiment.elapsed``.
A Rollout update that changed only its status (Ferry's own mirror) means nothing. It reads
state but never writes it: the events it emits carry the guards.
"""

from __future__ import annotations

from typing import Any

from cloudevents.core.v1.event import CloudEvent

from shared import (
    commands,
    configs,
    events,
    facts,
    levels,
    models,
    revisions,
    rollouts,
    routers,
    workloads,
)
from shared.analysis import model, providers, runs
from shared.analysis.providers import job as job_provider
from shared.context import Context
from shared.events import Ext, RolloutRef, Type
from shared.experiments import spec as experiments
from shared.state import RolloutState, Stage

Obj = dict[str, Any]


REFERENCES = frozenset({Type.REFERENCE_ADDED, Type.REFERENCE_UPDATED, Type.REFERENCE_DELETED})


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    obj = events.data(event)
    if event.get_type() in REFERENCES:
        return _config(ctx, obj)
    kind = events.ext(event, Ext.KIND) or obj.get("kind")
    meta = obj.get("metadata") or {}
    namespace, name = meta.get("namespace"), meta.get("name")
    if not namespace or not name:
        raise events.MalformedEvent("the event's data is not a namespaced Kubernetes object")
    if kind == models.KIND:
        return _rollout(ctx, event, obj, RolloutRef(namespace, name))
    if kind == models.EXPERIMENT_KIND:
        return _experiment(event, obj, RolloutRef(namespace, name))
    if kind == "Job":
        return _job(ctx, obj, namespace, events.key(event))
    if kind == "Deployment" and experiments.LABEL in (meta.get("labels") or {}):
        return _looks(event, RolloutRef(namespace, str(meta["labels"][experiments.LABEL])))
    if kind == "Deployment":
        return _deployment(ctx, obj, namespace, name, events.key(event))
    if kind == "Ingress":
        return _ingress(ctx, namespace, name, event) or _owned(ctx, obj, event, "weight")
    if kind == "Service":  # the apex is blue/green's switch without a traffic router
        return _owned(ctx, obj, event, "services", "weight")
    if kind in ROUTING_KINDS:
        return _routing(ctx, obj, event, str(kind))
    return None


ROUTING_KINDS = frozenset(
    {"HTTPRoute", "GRPCRoute", "VirtualService", "DestinationRule", "TrafficSplit"}
)
"""The routing objects of the routers other than nginx (watched where ``knative/route-watch/``
is applied)."""


def _routing(ctx: Context, obj: Obj, event: CloudEvent, kind: str) -> CloudEvent | None:
    """A routing object changed: for each Rollout of its namespace whose router reads or writes
    it (a user's route, or a split the Rollout owns), ``rollout.changed`` when the rollout
    waits for a routing object, else drift. The first such Rollout is answered for; the tick
    heals any other."""
    meta = obj["metadata"]
    namespace = meta["namespace"]
    for found in ctx.kube.rollouts(namespace):
        if models.router_name(found) == models.BY_REPLICAS:
            continue
        ref = RolloutRef(namespace, found["metadata"]["name"])
        rollout = rollouts.current(ctx, ref)
        if rollout is None or (kind, meta["name"]) not in rollout.router.objects(rollout.spec):
            continue
        state = ctx.store.load(ref)
        if state.blocked:  # it waits for a routing object: look again at once
            return events.new(
                Type.ROLLOUT_CHANGED,
                ref,
                event_id=events.derived_id(events.key(event), "route"),
                generation=rollout.generation,
            )
        reply = _drift(ctx, state, events.key(event), frozenset({"weight"}))
        if reply is not None:
            return reply
    return None


def _rollout(ctx: Context, event: CloudEvent, obj: Obj, ref: RolloutRef) -> CloudEvent | None:
    source_key = events.key(event)
    meta = obj["metadata"]
    if event.get_type() == Type.RESOURCE_DELETED or meta.get("deletionTimestamp"):
        return events.new(Type.ROLLOUT_DELETED, ref, event_id=events.derived_id(source_key, "del"))
    for command in commands.listed(obj, ctx.now()):
        request = command.event(ref)
        if not ctx.store.processed(ref, events.key(request)):
            return request  # one at a time: handling it updates the status, which brings the next
    state = ctx.store.load(ref)
    generation = int(meta.get("generation", 0))
    if (
        event.get_type() == Type.RESOURCE_ADDED
        or not state.exists
        or state.uid != meta.get("uid")
        or state.generation != generation
        or state.stage in (Stage.INVALID, Stage.INITIALIZING)
    ):
        return events.new(
            Type.ROLLOUT_CHANGED,
            ref,
            event_id=events.derived_id(source_key, "chg"),
            generation=generation,
        )
    return None  # only the status changed: Ferry's own mirror


def _experiment(event: CloudEvent, obj: Obj, ref: RolloutRef) -> CloudEvent | None:
    """An Experiment was created, changed or deleted: look at it (not after a change of its
    status alone: Ferry's own mirror)."""
    meta, status = obj["metadata"], obj.get("status") or {}
    if (
        event.get_type() == Type.RESOURCE_UPDATED
        and not meta.get("deletionTimestamp")
        and status.get("observedGeneration") == meta.get("generation")
    ):
        return None
    return _looks(event, ref)


def _looks(event: CloudEvent, ref: RolloutRef) -> CloudEvent:
    """``experiment.changed`` for the Experiment ``ref``."""
    return events.new(
        Type.EXPERIMENT_CHANGED, ref, event_id=events.derived_id(events.key(event), "experiment")
    )


def _config(ctx: Context, ref: Obj) -> CloudEvent | None:
    """A ConfigMap (or Secret) was created, changed or deleted: for the first Rollout whose
    target references it and which that makes see a new revision, what that means."""
    kind, namespace, name = ref.get("kind"), ref.get("namespace"), ref.get("name")
    if kind not in configs.PLURALS or not isinstance(namespace, str) or not isinstance(name, str):
        raise events.MalformedEvent("the event's data is not a ConfigMap or Secret reference")
    for rollout in ctx.kube.rollouts(namespace):
        if rollout["metadata"].get("deletionTimestamp"):
            continue
        target_name = ((rollout.get("spec") or {}).get("targetRef") or {}).get("name")
        target = ctx.kube.deployment(namespace, str(target_name)) if target_name else None
        template = ((target or {}).get("spec") or {}).get("template") or {}
        if target is None or configs.Ref(kind, name) not in configs.references(template):
            continue
        state = ctx.store.load(RolloutRef(namespace, rollout["metadata"]["name"]))
        if state.uid and state.uid != rollout["metadata"].get("uid"):
            continue  # left by a deleted Rollout of that name: its own events start it afresh
        reply = target_changed(state, target, rollout, revisions.of(ctx, target))
        if reply is not None:
            return reply
    return None


def _job(ctx: Context, job: Obj, namespace: str, source_key: str) -> CloudEvent | None:
    """A measurement Job that finished wakes its in-flight measurement."""
    conditions = (job.get("status") or {}).get("conditions") or []
    if not any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions
    ):
        return None
    owner = next(
        (
            o
            for o in job["metadata"].get("ownerReferences") or []
            if o.get("kind") == model.RUN_KIND
        ),
        None,
    )
    if owner is None:
        return None
    run_obj = ctx.kube.get(models.API_VERSION, model.RUN_PLURAL, namespace, owner["name"])
    labels = (run_obj or {}).get("metadata", {}).get("labels") or {}
    rollout = labels.get(runs.ROLLOUT_LABEL)
    if labels.get(experiments.LABEL):
        return _experiment_job(ctx, job, namespace, owner["name"], labels[experiments.LABEL])
    if not rollout:
        return None
    state = ctx.store.load(RolloutRef(namespace, rollout))
    run = runs.runs_of(state).get(owner["name"])
    if run is None or run.phase is not None:
        return None
    for metric, taken in run.measurements.items():
        if not taken or not taken[-1].in_flight:
            continue
        index = len(taken) - 1
        ref = providers.MeasurementRef(namespace, run.name, metric, index)
        if job_provider.job_name(ref) == job["metadata"]["name"]:
            return events.new(
                Type.MEASUREMENT_REQUESTED,
                state.ref,
                event_id=events.derived_id(source_key, "job"),
                revision=state.canary_revision,
                attempt=state.attempt,
                run=run.name,
                metric=metric,
                index=index,
            )
    return None


def _experiment_job(
    ctx: Context, job: Obj, namespace: str, run_name: str, experiment: str
) -> CloudEvent | None:
    """A measurement Job of an experiment's analysis finished: the measurement is read."""
    state = ctx.store.load_experiment(RolloutRef(namespace, experiment))
    run = runs.runs_of(state).get(run_name)
    if run is None or run.phase is not None:
        return None
    for metric, taken in run.measurements.items():
        if taken and taken[-1].in_flight:
            index = len(taken) - 1
            ref = providers.MeasurementRef(namespace, run.name, metric, index)
            if job_provider.job_name(ref) == job["metadata"]["name"]:
                return runs.measurement_event(state, run.name, metric, index)
    return None


def _owners(ctx: Context, namespace: str, deployment: str) -> list[tuple[Obj, str]]:
    """Rollouts in ``namespace`` whose target (role "target") or primary (role "primary") is
    ``deployment``."""
    found = []
    for rollout in ctx.kube.rollouts(namespace):
        target = ((rollout.get("spec") or {}).get("targetRef") or {}).get("name")
        if target == deployment:
            found.append((rollout, "target"))
        elif target and f"{target}-primary" == deployment:
            found.append((rollout, "primary"))
    found.sort(key=lambda pair: pair[0]["metadata"]["name"])
    return found


def _deployment(
    ctx: Context, deployment: Obj, namespace: str, name: str, source_key: str
) -> CloudEvent | None:
    for rollout, role in _owners(ctx, namespace, name):
        ref = RolloutRef(namespace, rollout["metadata"]["name"])
        state = ctx.store.load(ref)
        if state.uid and state.uid != rollout["metadata"].get("uid"):
            state = RolloutState(namespace, ref.name)  # left by a deleted Rollout of that name
        if rollout["metadata"].get("deletionTimestamp"):
            if role == "target":  # cleanup waits for the target to serve again
                return events.new(
                    Type.ROLLOUT_DELETED, ref, event_id=events.derived_id(source_key, "del")
                )
            continue
        if role == "primary":
            reply = primary_ready(state, deployment)
        else:
            reply = target_changed(
                state,
                deployment,
                rollout,
                revisions.of(ctx, deployment),
            )
        if reply is None and _spec_changed(deployment):
            reply = _drift(ctx, state, source_key, frozenset({"workloads"}))
        if reply is not None:
            return reply
    return None


def _spec_changed(deployment: Obj) -> bool:
    """A change of the Deployment's spec its controller has not acted on yet (the events of
    status updates, by far the most, are not worth a look)."""
    observed = (deployment.get("status") or {}).get("observedGeneration")
    return bool(observed != deployment["metadata"].get("generation"))


def _owned(ctx: Context, obj: Obj, event: CloudEvent, *aspects: str) -> CloudEvent | None:
    """A Service or routing object a Rollout owns (or the apex Service Ferry keeps) changed."""
    meta, namespace = obj["metadata"], obj["metadata"]["namespace"]
    owner = next(
        (o["name"] for o in meta.get("ownerReferences") or [] if o.get("kind") == models.KIND),
        None,
    )
    for rollout in ctx.kube.rollouts(namespace) if owner is None else []:
        if models.apex_name(rollout) == meta["name"]:
            owner = rollout["metadata"]["name"]
    if owner is None:
        return None
    state = ctx.store.load(RolloutRef(namespace, owner))
    return _drift(ctx, state, events.key(event), frozenset(aspects))


def _drift(
    ctx: Context, state: RolloutState, source_key: str, aspects: frozenset[str]
) -> CloudEvent | None:
    """``drift.detected`` when what Ferry keeps for the rollout (the ``aspects`` the changed
    object bears on) no longer says what its state says."""
    rollout = rollouts.current(ctx, state.ref)
    if rollout is None or rollout.deleting or rollout.uid != state.uid:
        return None
    found = levels.differences(ctx, rollout, state, aspects)
    if not found:
        return None
    return events.new(
        Type.DRIFT_DETECTED,
        state.ref,
        event_id=events.derived_id(source_key, "drift"),
        data={"found": found},
        rolloutuid=state.uid,
    )


def primary_ready(state: RolloutState, primary: Obj) -> CloudEvent | None:
    """``primary.updated`` when the primary runs, fully available, the revision it should."""
    expected = {
        Stage.INITIALIZING: state.stable_revision,
        Stage.PROMOTING: state.canary_revision,
    }.get(state.stage)
    if not expected or workloads.primary_revision(primary) != expected:
        return None
    if not workloads.is_ready(primary):
        return None
    return facts.of(state, Type.PRIMARY_UPDATED, revision=expected, attempt=state.attempt)


def target_changed(
    state: RolloutState, target: Obj, rollout: Obj, revision: str
) -> CloudEvent | None:
    """What a change of the target (now at ``revision``) means for the rollout, if anything."""
    if (
        not state.exists
        or state.stage in (Stage.INVALID,)
        or (state.stage == Stage.INITIALIZING and not state.stable_revision)
    ):
        return events.new(
            Type.ROLLOUT_CHANGED,
            state.ref,
            generation=int(rollout["metadata"].get("generation", 0)),
            revision=revision,
            rolloutuid=str(rollout["metadata"].get("uid", "")),
        )
    if state.stage == Stage.SCALING and revision == state.canary_revision and state.cold:
        return facts.of_attempt(state, Type.CANARY_EMPTIED) if workloads.is_empty(target) else None
    if state.stage == Stage.SCALING and revision == state.canary_revision:
        by_replicas = routers.by_replicas(models.router_name(rollout))
        if workloads.canary_ready(target, by_replicas=by_replicas):
            return facts.of_attempt(state, Type.CANARY_SCALED)
        return None
    if state.stage == Stage.INITIALIZING:
        return None  # finalize checks the target once the primary is ready
    if state.stage == Stage.STEPPING and revision == state.canary_revision:
        if _switch_step(rollout) == state.step and workloads.is_ready(target):
            return facts.of_attempt(state, Type.STEP_STARTED, step=state.step)
        return None
    if revision in (state.canary_revision,) and state.stage != Stage.HEALTHY:
        return None
    if revision == state.stable_revision and state.stage == Stage.HEALTHY:
        return None
    return facts.of(state, Type.REVISION_DETECTED, revision=revision, attempt=state.attempt)


def _switch_step(rollout: Obj) -> int | None:
    """Blue/green's switch step (it waits for the preview at full size), else None."""
    strategy = (rollout.get("spec") or {}).get("strategy") or {}
    if models.BLUE_GREEN not in strategy:
        return None
    try:
        blue_green = models.parse(rollout).blue_green
    except models.InvalidSpec:
        return None
    return blue_green.switch_step if blue_green is not None else None


def _ingress(ctx: Context, namespace: str, name: str, event: CloudEvent) -> CloudEvent | None:
    for rollout in ctx.kube.rollouts(namespace):
        nginx = ((rollout.get("spec") or {}).get("trafficRouting") or {}).get("nginx") or {}
        if nginx.get("stableIngress") == name:
            ref = RolloutRef(namespace, rollout["metadata"]["name"])
            return events.new(
                Type.ROLLOUT_CHANGED,
                ref,
                event_id=events.derived_id(events.key(event), "ing"),
                generation=int(rollout["metadata"].get("generation", 0)),
            )
    return None
