"""initialize: takes a Rollout's target under Ferry's control, or records a changed spec.

On first sight (or after the spec became valid again) it creates ``<target>-primary`` from the
target's template and waits for it to be ready (``finalize`` then switches the Services and the
router and scales the target to 0). For a Rollout already running, it keeps the Services and
the router's objects converged with the spec and records the observed generation. An invalid
spec gets an InvalidSpec condition and phase Degraded; nothing else is touched.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import facts, models, revisions, rollouts, transitions, workloads
from shared.context import Context
from shared.events import RolloutRef, Type
from shared.outcomes import Outcome, Turn
from shared.state import RolloutState, Stage


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    return transitions.run(ctx, event, _decide)


def _decide(turn: Turn) -> Outcome | None:
    ctx, ref, state = turn.ctx, turn.ref, turn.state
    try:
        rollout = rollouts.load(ctx, ref)
    except models.InvalidSpec as exc:
        return _invalid(ctx, ref, state, str(exc))
    if rollout is None or rollout.deleting:
        return None
    now = ctx.now()
    fresh = not state.exists or state.uid != rollout.uid
    if not fresh and state.stage not in (Stage.INITIALIZING, Stage.INVALID):
        target = ctx.kube.deployment(ref.namespace, rollout.spec.target)
        if target is not None:
            for service in rollout.services(target):
                ctx.kube.ensure(service)
            rollout.router.reconcile(rollout.spec, rollout.obj)
        if state.blocked:
            message = "routing objects in place again"
            return Outcome(
                state.with_(generation=rollout.generation, blocked="", reason="RoutingReady"),
                note=message,
            )
        if state.generation == rollout.generation:
            return None
        return Outcome(
            state.with_(generation=rollout.generation),
            note=f"spec generation {rollout.generation} observed",
        )
    if fresh:
        state = RolloutState(ref.namespace, ref.name, version=state.version)
    state = state.with_(uid=rollout.uid, generation=rollout.generation)
    ctx.kube.set_finalizer(rollout.obj, models.FINALIZER, present=True)
    target = ctx.kube.deployment(ref.namespace, rollout.spec.target)
    if target is None:
        message = f"target Deployment {rollout.spec.target} not found; waiting for it"
        if state.stage == Stage.INITIALIZING and state.message == message:
            return None
        return Outcome(
            state.to(Stage.INITIALIZING, now, reason="TargetNotFound", message=message),
            note=message,
        )
    primary = ctx.kube.deployment(ref.namespace, rollout.spec.primary)
    verb = "found"
    pinned = None
    if primary is None:
        replicas = workloads.stable_replicas(rollout.spec, target)
        pinned = revisions.plan(ctx, rollout.spec.name, target)
        revisions.pin(ctx, pinned, rollout.obj)
        primary = ctx.kube.create(
            workloads.primary(
                rollout.spec,
                target,
                rollout.obj,
                replicas,
                shared=rollout.shared_pods,
                template=pinned.template,
                revision=pinned.revision,
            )
        )
        verb = "created"
    stable = workloads.primary_revision(primary) or (
        pinned.revision if pinned else revisions.of(ctx, target)
    )
    reply = None
    if workloads.is_ready(primary):
        reply = facts.of(state, Type.PRIMARY_UPDATED, revision=stable, attempt=state.attempt)
    return Outcome(
        state.to(
            Stage.INITIALIZING,
            now,
            stable_revision=stable,
            canary_revision="",
            step=0,
            weight=0,
            reason="Initializing",
            message=f"waiting for {rollout.spec.primary} to be ready",
        ),
        reply=reply,
        note=f"primary {rollout.spec.primary} {verb} at revision {stable}",
    )


def _invalid(ctx: Context, ref: RolloutRef, state: RolloutState, message: str) -> Outcome | None:
    obj = ctx.kube.rollout(ref.namespace, ref.name)
    if obj is None:
        return None
    generation = int(obj["metadata"].get("generation", 0))
    text = f"InvalidSpec: {message}"
    if state.stage == Stage.INVALID and state.message == text and state.generation == generation:
        return None
    ctx.kube.record_event(obj, "InvalidSpec", message, warning=True)
    return Outcome(
        state.to(
            Stage.INVALID,
            ctx.now(),
            uid=str(obj["metadata"].get("uid", "")),
            generation=generation,
            reason="InvalidSpec",
            message=text,
            blocked="",  # what it waited for no longer matters: the spec must be fixed first
        ),
        note=text,
    )
