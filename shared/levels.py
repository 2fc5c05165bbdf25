"""The levels a rollout's committed state asks of the cluster, and bringing the cluster there.

Three things follow from the state alone and carry production traffic: the router's canary
weight (``state.weight``), the canary's replicas (by stage, :func:`canary_replicas`) and the
primary's pod template (the canary's while promoting, pinned to copies of its ConfigMaps and
Secrets by ``shared.configs``; and the time of the last restart a person asked for, which makes
its Deployment replace the stable Pods). Transitions never write them while they
decide: ``shared.transitions`` commits the new state first and then calls :func:`converge`, as
do the reconcile tick and drift events. Every write here is fenced: the object is read, then the
*latest* committed state is loaded, then the write is made conditional on the object's
resourceVersion (``Kube.fenced_patch``). So a write derived from an older state can never land
after a newer state was committed: the newer commit's own converge reads after it, and a write
squeezed in between makes the older one fail its precondition and look again.

It decides nothing: it only makes the cluster say what the state says. No Redis writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared import configs, gates, kube, models, revisions, routers, workloads
from shared.context import Context
from shared.events import RolloutRef
from shared.experiments import runner
from shared.rollouts import Rollout
from shared.state import ACTIVE, RolloutState, Stage

log = logging.getLogger(__name__)
Obj = dict[str, Any]
Latest = Callable[[], RolloutState]


LEVELS = (
    "stage",
    "cold",
    "weight",
    "routes",
    "scaled_down",
    "stable_revision",
    "canary_revision",
    "blocked",
    "restarted_at",
    "generation",
)
"""What the levels follow from: a commit that changes none of these moves no level. A new
spec generation may (``spec.replicas``, the router's settings)."""


def moved(old: RolloutState, new: RolloutState, rollout: Rollout | None = None) -> bool:
    """Whether committing ``new`` over ``old`` may change a level (or the state was new). For
    blue/green (or a Rollout not read) the step too: the preview grows to full size at the
    switch step."""
    followed = (
        LEVELS
        if rollout is not None and rollout.spec.blue_green is None
        else (
            *LEVELS,
            "step",
        )
    )
    if not old.exists or any(getattr(old, f) != getattr(new, f) for f in followed):
        return True
    # an experiment step's templates with a share of traffic leave the routes when its run ends
    return old.runs != new.runs and (rollout is None or rollout.weighted_experiments)


def canary_replicas(state: RolloutState, stable: int, rollout: Rollout) -> int | None:
    """The replicas the canary (the target) should run in ``state`` when the primary runs
    ``stable``; None when it is not the rollout's to say (initializing, invalid, promoting, or
    aborted and still within abortScaleDownDelaySeconds)."""
    if state.stage == Stage.HEALTHY:
        # after a blue/green promotion the target's Pods stay for scaleDownDelaySeconds
        return 0 if state.scaled_down or rollout.spec.blue_green is None else None
    if gates.unstarted(state):
        return 0  # the canary starts when the gate opens
    if state.stage == Stage.SCALING and state.cold:
        return 0  # a cold restart: no Pod keeps the configuration it started with
    if state.stage in ACTIVE:
        return rollout.canary_replicas(state.step, state.weight, stable)
    if state.stage == Stage.ABORTED and state.scaled_down:
        return 0
    return None


def converge(ctx: Context, rollout: Rollout, *, drift: bool = False) -> None:
    """Write the levels of the latest committed state (``drift``: a person or another tool
    changed them; say so in the log)."""
    if rollout.deleting:
        return  # cleanup hands the target back; the levels are no longer the rollout's
    ref = RolloutRef(rollout.spec.namespace, rollout.spec.name)

    def latest() -> RolloutState:
        return ctx.store.load(ref)

    if not latest().exists:
        return
    _weight(ctx, rollout, latest, drift)
    _stable_replicas(ctx, rollout, latest)  # before the canary's share, counted from it
    _replicas(ctx, rollout, latest, drift)
    _primary(ctx, rollout, latest)
    _restart(ctx, rollout, latest)


def _stable_replicas(ctx: Context, rollout: Rollout, latest: Latest) -> None:
    """``spec.replicas``, when set, is the primary's size in every stage once it exists (a
    pause or an abort can last days while Git says otherwise); unset, the primary keeps what
    it is scaled to."""
    spec = rollout.spec
    if spec.replicas is None:
        return  # nothing to write: spare the read

    def change(primary: Obj) -> Obj | None:
        if latest().stage in (Stage.INITIALIZING, Stage.INVALID):
            return None
        if workloads.replicas(primary) == spec.replicas:
            return None
        log.info("%s/%s: the primary to %s replicas", spec.namespace, spec.name, spec.replicas)
        return {"spec": {"replicas": spec.replicas}}

    ctx.kube.fenced_patch("apps/v1", "deployments", spec.namespace, spec.primary, change)


def _say(drift: bool, what: str, *args: object) -> None:
    log.log(logging.WARNING if drift else logging.DEBUG, what, *args)


def traffic(ctx: Context, state: RolloutState, rollout: Rollout) -> routers.Traffic:
    """What the router should do in ``state``: its weight, the header and mirror routes the
    steps set while the canary is in progress (none at rest, aborted or promoting), and the
    templates of a running experiment step that get a share of traffic."""
    active = state.stage in ACTIVE
    routes = models.routes_at(rollout.spec.steps, state.routes) if active else ()
    return routers.Traffic(state.weight, routes, runner.backends(ctx, state))


def _weight(ctx: Context, rollout: Rollout, latest: Latest, drift: bool) -> None:
    def want(current: int) -> routers.Traffic | None:
        state = latest()
        if state.stage in (Stage.INITIALIZING, Stage.INVALID) or not state.exists:
            return None
        if current != state.weight:
            _say(
                drift,
                "%s/%s: canary weight %s%% -> %s%%",
                state.namespace,
                state.name,
                current,
                state.weight,
            )
        return traffic(ctx, state, rollout)

    rollout.router.set_weight(rollout.spec, want)


def _replicas(ctx: Context, rollout: Rollout, latest: Latest, drift: bool) -> None:
    spec = rollout.spec

    def change(target: Obj) -> Obj | None:
        primary = ctx.kube.deployment(spec.namespace, spec.primary)
        state = latest()
        want = canary_replicas(state, workloads.replicas(primary), rollout)
        if want is None or workloads.replicas(target) == want:
            return None
        _say(drift, "%s/%s: canary scaled to %s", spec.namespace, spec.name, want)
        return {"spec": {"replicas": want}}

    ctx.kube.fenced_patch("apps/v1", "deployments", spec.namespace, spec.target, change)


def primary_source(state: RolloutState) -> str | None:
    """The revision whose template the primary should run, when the target runs it: the canary
    while promoting, the stable one at rest; None when it is not the rollout's to say."""
    if state.stage == Stage.PROMOTING:
        return state.canary_revision
    if state.stage == Stage.HEALTHY:
        return state.stable_revision
    return None


def _primary_patch(
    ctx: Context, rollout: Rollout, state: RolloutState, primary: Obj
) -> tuple[Obj, configs.Pinned] | None:
    """The patch that gives the primary the template it should run (empty: it runs it), with
    the copies of the ConfigMaps and Secrets that template needs (None: the target no longer
    runs that revision, so it cannot be known here)."""
    spec = rollout.spec
    source = primary_source(state)
    target = ctx.kube.deployment(spec.namespace, spec.target) if source else None
    if target is None:
        return None
    pinned = revisions.plan(ctx, spec.name, target)
    if pinned.revision != source:
        return None
    replicas = spec.replicas if spec.replicas is not None else max(workloads.replicas(primary), 1)
    desired = workloads.primary(
        spec,
        target,
        rollout.obj,
        replicas,
        shared=rollout.shared_pods,
        template=pinned.template,
        revision=pinned.revision,
        restarted=restart_stamp(state, primary),
    )
    patch: Obj = kube.difference(primary, desired)
    return patch, pinned


def _primary(ctx: Context, rollout: Rollout, latest: Latest) -> None:
    """While promoting the primary takes the canary's template; at rest it keeps the stable
    one (a template edited by hand goes back). The copies of its ConfigMaps and Secrets are
    made before the template that mounts them."""
    spec = rollout.spec

    def change(primary: Obj) -> Obj | None:
        found = _primary_patch(ctx, rollout, latest(), primary)
        if found is None:
            return None
        patch, pinned = found
        revisions.pin(ctx, pinned, rollout.obj)  # also one deleted
        return patch or None

    if primary_source(latest()):  # else nothing to write: spare the reads
        ctx.kube.fenced_patch("apps/v1", "deployments", spec.namespace, spec.primary, change)


def restart_stamp(state: RolloutState, primary: Obj | None) -> str | None:
    """The restart time the primary's pod template should carry (None: none: no restart was
    asked, there are no stable Pods to restart, or this primary is not the one the restart was
    for: made again since, e.g. after an invalid spec was fixed, every Pod of it started after
    that restart, and stamping it now would replace them all a second time)."""
    if not state.restarted_at or primary is None:
        return None
    if state.stage in (Stage.INITIALIZING, Stage.INVALID):
        return None
    stamp = workloads.restart_stamp(state.restarted_at)
    uid = (primary.get("metadata") or {}).get("uid")
    again = state.restarted_primary and uid and uid != state.restarted_primary
    if again and workloads.restarted_at(primary) != stamp:
        return None
    return stamp


def restart_wanted(state: RolloutState, primary: Obj | None) -> str | None:
    """The restart time the primary's pod template should carry and does not (None: nothing
    to write)."""
    stamp = restart_stamp(state, primary)
    return None if stamp is None or workloads.restarted_at(primary) == stamp else stamp


def _restart(ctx: Context, rollout: Rollout, latest: Latest) -> None:
    """A person's restart: the primary's pod template carries its time, so the Deployment
    controller replaces the stable Pods (a rolling update within the primary's maxSurge and
    maxUnavailable). The primary is Ferry's own object, never Git's, and the revision is the
    *target's* template: neither changes, so no canary starts and no GitOps tool reverts it.
    Where :func:`_primary` says the whole template (promoting, at rest) the time is part of it
    (one write, one rolling update, and the two never undo each other); this writes it alone
    only where that one does not: during a canary's steps, after an abort, or while the target
    no longer runs the revision the primary should (then its template cannot be known)."""
    spec = rollout.spec

    def change(primary: Obj) -> Obj | None:
        state = latest()
        stamp = restart_wanted(state, primary)
        if stamp is None:
            return None
        if primary_source(state) and _primary_patch(ctx, rollout, state, primary) is not None:
            return None  # _primary writes it with the template
        log.info("%s/%s: restarting the stable Pods (%s)", spec.namespace, spec.name, stamp)
        return workloads.restart_patch(stamp)

    if latest().restarted_at:  # else nothing to write: spare the read
        ctx.kube.fenced_patch("apps/v1", "deployments", spec.namespace, spec.primary, change)


ASPECTS = frozenset({"weight", "workloads", "services"})
"""What :func:`differences` can compare: the routing objects (weight, header and mirror
routes), the canary's replicas and the primary's template, the Services."""


def differences(
    ctx: Context, rollout: Rollout, state: RolloutState, aspects: frozenset[str] = ASPECTS
) -> list[str]:
    """What in the cluster does not say what ``state`` says, among ``aspects`` (empty when all
    agree). A watch event names the object that changed, so it asks only about that one."""
    spec, found = rollout.spec, []
    if state.stage in (Stage.INITIALIZING, Stage.INVALID) or not state.exists:
        return []
    if "weight" in aspects and not rollout.router.converged(spec, traffic(ctx, state, rollout)):
        # one read when all is well (Ferry's own writes come back as watch events); the
        # weight is read again only to say what differs
        weight = rollout.router.get_weight(spec)
        if weight is None and not rollout.by_replicas:
            found.append("the routing objects are missing")
        elif weight is not None and weight != state.weight:
            found.append(f"the canary weight is {weight}%, not {state.weight}%")
        else:
            found.append("the routing objects do not route as the state says")
    target = ctx.kube.deployment(spec.namespace, spec.target)
    if "workloads" in aspects:
        primary = ctx.kube.deployment(spec.namespace, spec.primary)
        want = canary_replicas(state, workloads.replicas(primary), rollout)
        if target is not None and want is not None and workloads.replicas(target) != want:
            found.append(f"the canary runs {workloads.replicas(target)} replicas, not {want}")
        if primary is None:
            found.append(f"{spec.primary} is missing")
        elif (pending := _primary_patch(ctx, rollout, state, primary)) and pending[0]:
            found.append(f"{spec.primary} does not run the template it should")
        elif restart_wanted(state, primary) is not None:  # else said with the template
            found.append(f"{spec.primary} does not carry the restart asked for")
    if target is not None and "services" in aspects:
        for service in rollout.services(target):
            name = service["metadata"]["name"]
            current = ctx.kube.get("v1", "services", spec.namespace, name)
            if current is None or kube.difference(current, service):
                found.append(f"the Service {name} is not as Ferry made it")
    return found
