"""load: generates a rollout's load (``spec.loadTest``, steps' ``load``), one slice at a time.

``load.requested`` is only a hint (a transition that changed what the load depends on, the
previous slice, or the tick): what is wanted is decided from the rollout's committed state and
live spec (``shared.loads``). One generator at a time per rollout (a lease): a hint that finds
it held is acknowledged and does nothing, since the slice in progress looks at the state four
times a second and ends early when it moved. A slice sends for at most :data:`SLICE` seconds
(``shared.loadgen``), adds its totals to the rollout's load progress in Redis, shows them in
``status.loadTest``, and answers with the next hint while the load is still wanted; when it no
longer is, the run is recorded as stopped (why, and its totals) in the history. Load goes to
the URL the spec names or to the ready Pods behind the Service it names (the canary's by
default), by their addresses, as an ingress controller does.

This makes no transition: it never writes the rollout's state, only its own progress, and a
failure here never holds the rollout up. It never logs or stores a header's value.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import urllib3
from cloudevents.core.v1.event import CloudEvent

from shared import events, kube, loadgen, loads, models, rollouts
from shared.clock import rfc3339
from shared.context import Context
from shared.events import RolloutRef, Type
from shared.state import RolloutState

log = logging.getLogger(__name__)

SLICE = 10.0
"""Seconds one delivery sends for at most, counted from when it took the lease (then the next
hint carries on): with its requests' last answers (``models.MAX_LOAD_TIMEOUT`` and
``loadgen.GRACE``) a delivery ends within about 21 s, under the function's 30 s limit."""
LEASE = 8.0
"""Seconds the lease is taken for; renewed as the slice goes (a slice that dies holds it at
most this long)."""
RETRY = 2.0
"""Seconds before looking again when there is nowhere to send yet (no ready Pod)."""
_POOL = urllib3.PoolManager(maxsize=models.MAX_CONCURRENCY, block=False, retries=False)
"""Connections kept between slices (a keep-alive connection outlives one)."""


class NoTarget(Exception):
    """There is nowhere to send the load yet (its Service has no ready Pod)."""


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    ref = RolloutRef.parse(event.get_subject())
    holder = uuid.uuid4().hex
    if not ctx.store.lease_load(ref, holder, LEASE):
        log.debug("load %s: a slice is running; it sees what changed", ref.subject)
        return None
    until = time.monotonic() + SLICE
    try:
        state = ctx.store.load(ref)
        reply = _slice(ctx, ref, holder, event, state, until)
        if reply is None and loads.mark(ctx.store.load(ref)) != loads.mark(state):
            # the state moved while this delivery decided (a resume while it recorded a
            # pause): its hint found the lease held, so the next look is this one's to ask
            reply = _next(ref)
        return reply
    finally:
        ctx.store.release_load(ref, holder)


def _next(ref: RolloutRef) -> CloudEvent:
    return events.new(Type.LOAD_REQUESTED, ref, event_id=uuid.uuid4().hex)


def _slice(
    ctx: Context,
    ref: RolloutRef,
    holder: str,
    event: CloudEvent,
    state: RolloutState,
    until: float,
) -> CloudEvent | None:
    progress = ctx.store.load_progress(ref)
    obj = ctx.kube.rollout(ref.namespace, ref.name) if state.exists else None
    now = ctx.now()
    plan: loads.Plan | str = "the rollout is gone"
    rollout: rollouts.Rollout | None = None
    if obj is not None and obj["metadata"].get("uid") == state.uid:
        try:
            rollout = rollouts.of(ctx, obj)  # the object just read, not read again
        except models.InvalidSpec:
            plan = "its spec is invalid"
        else:
            plan = loads.wanted(state, rollout.spec, progress, now)
        if obj["metadata"].get("deletionTimestamp"):
            plan = "the rollout is being deleted"
    if isinstance(plan, str) or rollout is None:
        _stop(ctx, ref, state, obj, progress, str(plan), holder, event)
        return None
    if progress.get("run") and progress.get("run") != plan.run:
        _stop(ctx, ref, state, obj, progress, f"replaced by {plan.where}", holder, event)
        progress = {}
    try:
        targets, shown = _targets(ctx, ref, rollout, plan.load)
    except NoTarget as exc:
        _show(ctx, obj, progress if progress.get("run") == plan.run else {}, "Waiting", str(exc))
        _later(ctx, ref, now + RETRY)
        return None
    if progress.get("run") != plan.run or progress.get("stopped"):
        begun = _begin(ctx, ref, state, plan, shown, holder, event, progress)
        if begun is None:
            return None  # the lease was lost: another delivery generates the load
        progress = begun
    mark = loads.mark(state)
    seconds = until - time.monotonic()
    if plan.load.duration is not None:
        seconds = min(seconds, float(progress["started"]) + plan.load.duration - ctx.now())
    if seconds <= 0:
        return _next(ref)

    def keep_going() -> bool:
        """The state still wants this load, and this delivery still holds the lease."""
        return loads.mark(ctx.store.load(ref)) == mark and ctx.store.renew_load(ref, holder, LEASE)

    totals = loadgen.Generator(_POOL).run(
        targets,
        loadgen.Shape(
            rps=plan.load.rps,
            concurrency=plan.load.concurrency,
            method=plan.load.method,
            headers=plan.load.headers,
            paths=plan.load.paths or (_path(plan.load.url),),
            timeout=plan.load.timeout,
        ),
        seconds,
        keep_going,
    )
    progress = _add(progress, totals)
    if not (
        ctx.store.renew_load(ref, holder, LEASE)
        and ctx.store.note_load(ref, progress, holder=holder)
    ):
        log.warning("load %s: the lease expired mid-slice; its totals are dropped", ref.subject)
        return None
    _show(ctx, obj, progress, "Running", progress["what"])
    return _next(ref)


def _targets(
    ctx: Context, ref: RolloutRef, rollout: rollouts.Rollout, load: models.LoadTest
) -> tuple[list[loadgen.Target], str]:
    """Where the load goes, and how to say it."""
    if load.url:
        parts = urlsplit(load.url)
        base = f"{parts.scheme}://{parts.netloc}"
        # said without its query, which may carry a token
        return [loadgen.Target(base)], base + (parts.path or "/") + ("?…" if parts.query else "")
    name = load.service or loads.default_service(rollout)
    port = load.port or rollout.spec.service.port
    shown = f"service {name}:{port}"
    service = ctx.kube.get("v1", "services", ref.namespace, name)
    if service is None:
        raise NoTarget(f"waiting for Service {name} to send the load to")
    ports = [p for p in (service.get("spec") or {}).get("ports") or [] if p.get("port") == port]
    if not ports:
        raise NoTarget(f"Service {name} has no port {port}")
    endpoints = ctx.kube.get("v1", "endpoints", ref.namespace, name) or {}
    found = []
    for subset in endpoints.get("subsets") or []:
        numbers = [
            p.get("port")
            for p in subset.get("ports") or []
            if len(subset.get("ports") or []) == 1 or p.get("name") == ports[0].get("name")
        ]
        for address in subset.get("addresses") or []:
            if numbers and address.get("ip"):
                host = f"[{address['ip']}]" if ":" in address["ip"] else address["ip"]
                found.append(
                    loadgen.Target(
                        f"http://{host}:{numbers[0]}", f"{name}.{ref.namespace}.svc:{port}"
                    )
                )
    if not found:
        raise NoTarget(f"waiting for a ready Pod behind Service {name} to send the load to")
    return found, shown


def _path(url: str) -> str:
    if not url:
        return "/"
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _begin(
    ctx: Context,
    ref: RolloutRef,
    state: RolloutState,
    plan: loads.Plan,
    shown: str,
    holder: str,
    event: CloudEvent,
    before: dict[str, str],
) -> dict[str, str] | None:
    """The run's progress as it starts (or resumes from ``before``, the progress as read under
    this delivery's lease); None when the lease was lost."""
    what = loads.describe(plan.load, shown)
    if before.get("run") == plan.run:  # the same run again (resumed): its totals go on
        progress = {**before, "stopped": "", "stoppedAt": ""}
        if not ctx.store.note_load(ref, progress, holder=holder):
            return None
        _record(ctx, state, event, f"load resumed ({plan.where}): {what}")
        return progress
    progress = {
        "run": plan.run,
        "where": plan.where,
        "what": what,
        "rps": str(plan.load.rps),
        "started": f"{ctx.now():.3f}",
        "sent": "0",
        "ok": "0",
        "errors": "0",
        "missed": "0",
        "seconds": "0",
        "rate": "0",
        "stopped": "",
        "stoppedAt": "",
    }
    if not ctx.store.note_load(ref, progress, holder=holder):
        return None
    _record(ctx, state, event, f"load started ({plan.where}): {what}")
    log.info("load %s: started %s", ref.subject, what)
    return progress


def _add(progress: dict[str, str], totals: loadgen.Totals) -> dict[str, str]:
    out = dict(progress)
    for name in ("sent", "ok", "errors", "missed"):
        out[name] = str(int(progress.get(name) or 0) + getattr(totals, name))
    seconds = float(progress.get("seconds") or 0) + totals.seconds
    out["seconds"] = f"{seconds:.3f}"
    out["rate"] = f"{int(out['sent']) / seconds:.1f}" if seconds > 0 else "0"
    return out


def _stop(
    ctx: Context,
    ref: RolloutRef,
    state: RolloutState,
    obj: dict[str, Any] | None,
    progress: dict[str, str],
    why: str,
    holder: str,
    event: CloudEvent,
) -> None:
    """Record that the run in progress stopped, and why: in the history once; in the progress
    and the status again whenever the reason changed or the status does not say it (a write
    that failed, a crash between the two)."""
    if not state.exists:
        ctx.store.forget_load(ref)  # the rollout is gone: so is its load's progress
        return
    if not progress.get("run"):
        return
    if progress.get("stopped"):
        shown = ((obj or {}).get("status") or {}).get("loadTest") or {}
        if progress["stopped"] != why:  # e.g. its duration passed while a person paused it
            progress = {**progress, "stopped": why}
            if not ctx.store.note_load(ref, progress, holder=holder):
                return
        elif shown.get("phase") == "Stopped" and shown.get("message") == why:
            return
        _show(ctx, obj, progress, "Stopped", why)
        return
    done = {**progress, "stopped": why, "stoppedAt": f"{ctx.now():.3f}"}
    if not ctx.store.note_load(ref, done, holder=holder):
        return
    note = f"load stopped: {why}; {_totals(done)}"
    _record(ctx, state, event, note)
    log.info("load %s: %s", ref.subject, note)
    _show(ctx, obj, done, "Stopped", why)


def _totals(progress: dict[str, str]) -> str:
    sent, errors = int(progress.get("sent") or 0), int(progress.get("errors") or 0)
    text = f"{sent:,} sent at {progress.get('rate', '0')}/s, {errors:,} errors"
    missed = int(progress.get("missed") or 0)
    if missed:
        text += f", {missed:,} missed (all {progress.get('rps')} at once were waiting)"
    return text


def _record(ctx: Context, state: RolloutState, event: CloudEvent, note: str) -> None:
    ctx.store.record(
        state.ref,
        {
            "event": event.get_type(),
            "id": event.get_id(),
            "function": ctx.function,
            "from": state.stage.value,
            "to": state.stage.value,
            "step": state.step,
            "weight": state.weight,
            "revision": state.canary_revision,
            "uid": state.uid,
            "note": note,
        },
    )


def _show(
    ctx: Context, obj: dict[str, Any] | None, progress: dict[str, str], phase: str, message: str
) -> None:
    """``status.loadTest`` says what the load is doing (best effort: the next slice, or the
    next look at a stopped run, says it again)."""
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return
    shown: dict[str, Any] = {"phase": phase, "message": message}
    if progress.get("run"):
        shown.update(
            {
                "source": progress.get("where", ""),
                "rps": int(progress.get("rps") or 0),
                "sent": int(progress.get("sent") or 0),
                "errors": int(progress.get("errors") or 0),
                "missed": int(progress.get("missed") or 0),
                "achievedRPS": progress.get("rate", "0"),
                "startedAt": rfc3339(float(progress.get("started") or 0)),
            }
        )
    try:
        ctx.kube.merge_patch(
            models.API_VERSION,
            models.PLURAL,
            obj["metadata"]["namespace"],
            obj["metadata"]["name"],
            {"status": {"loadTest": shown}},
            sub="status",
        )
    except (kube.ApiError, kube.Transient, kube.NotFound) as exc:
        log.warning("load %s: status not written: %s", obj["metadata"]["name"], exc)


def _later(ctx: Context, ref: RolloutRef, at: float) -> None:
    hint = events.new(
        Type.LOAD_REQUESTED, ref, event_id=events.derived_id(f"load/{at:.0f}", ref.subject)
    )
    ctx.timers.schedule(math.ceil(at), hint)
