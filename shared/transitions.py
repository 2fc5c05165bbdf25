"""The idempotency contract, written once: dedupe, guard, decide, commit, converge, reply.

Every function hands :func:`run` its event, the guard (:class:`Expect`: what the event needs of
the rollout to still apply) and a *decide* callable. ``run`` parses the event's subject and the
extensions the guard names (a malformed event is refused before anything is read), loads the
rollout's state, checks the guard, loads the live Rollout, and calls *decide* with a
:class:`Turn`. An event that does not apply is acknowledged and changes nothing; it is not
remembered as processed, so it applies if it is sent again when it does (the guards keep a stale
one harmless).

*decide* returns an :class:`Outcome` with the new state. It may create what does not depend on
the state (the primary, Services, AnalysisRuns, timers, Events: idempotent by name), but never
writes what carries traffic: ``run`` first commits with compare-and-set (state, processed marker
with the reply, history entry: one atomic step), then brings the traffic levels to what the
*latest* committed state says (``shared.levels``, fenced: no write computed from an older state
lands after a newer commit), mirrors the state into the Rollout's status the same way, and only
then replies. On a concurrent change it reloads and decides again. A redelivery of an event that
was committed (say the function died after its commit) converges again and gets the same reply.
Function modules hold only their guard and decision.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from shared import (
    commands,
    events,
    kube,
    levels,
    loads,
    milestones,
    models,
    rollouts,
    routers,
    sink,
    status,
    telemetry,
    tracing,
)
from shared.context import Context
from shared.events import Ext, RolloutRef
from shared.outcomes import ANY, Expect, Outcome, Turn
from shared.rollouts import Rollout
from shared.state import AlreadyProcessed, Conflict, RolloutState

log = logging.getLogger(__name__)

ATTEMPTS = 5
"""Compare-and-set attempts before giving up with a transient error (the Broker retries)."""


Decide = Callable[[Turn], Outcome | None]
Refused = Callable[[RolloutState, str], Outcome | None]


def run(
    ctx: Context,
    event: CloudEvent,
    decide: Decide,
    expect: Expect = ANY,
    *,
    refused: Refused | None = None,
) -> CloudEvent | None:
    """Carry out one transition under the idempotency contract. ``refused`` says what an
    event that does not apply leaves behind (a person's command: "ignored: why")."""
    ref = events.RolloutRef.parse(event.get_subject())
    wanted = expect.parse(event)
    key = events.key(event)
    started_ns = time.time_ns()
    for _ in range(ATTEMPTS):
        if ctx.store.processed(ref, key):
            return _again(ctx, ref, key)
        old, last_span = ctx.store.load_with_span(ref)
        outcome, loaded = _decide(ctx, event, old, decide, expect, wanted, refused)
        if outcome is None or (outcome.state == old and not outcome.record):
            return None if outcome is None else outcome.reply
        if ctx.before_commit is not None:
            ctx.before_commit(ctx.function)
        entry = _entry(ctx, event, old, outcome)
        span = tracing.plan(event, outcome.state, old, last_span)
        sent = tracing.reply_with(outcome.reply, span)
        reply = events.to_json(sent) if sent is not None else ""
        try:
            ctx.store.commit(
                old,
                outcome.state,
                event_key=key,
                history=entry,
                reply=reply,
                consume=outcome.consume,
                span=span.traceparent if span is not None else "",
            )
        except Conflict:
            continue
        except AlreadyProcessed:
            return _again(ctx, ref, key)
        log.info("%s %s: %s", ctx.function, ref.subject, outcome.note or _stage(outcome.state))
        telemetry.transition(
            ctx.store, ctx.function, event.get_type(), _stage(outcome.state), event.get_time()
        )
        tracing.record(span, ctx.function, event, old, outcome.state, started_ns, outcome.note)
        if ctx.after_commit is not None:
            ctx.after_commit(ctx.function)
        if outcome.state is not None:
            moved = levels.moved(old, outcome.state, loaded)
            settle(ctx, ref, loaded, converge=moved)
            notable = milestones.milestone(old, outcome.state)
            if notable is not None or (outcome.events and loaded is not None):
                obj = (
                    loaded.obj if loaded is not None else ctx.kube.rollout(ref.namespace, ref.name)
                )
                if notable is not None and outcome.note:
                    text = milestones.message(notable, old, outcome.note)
                    ctx.kube.record_event(obj, notable, text, warning=False)
                for reason, message, warning in outcome.events:
                    ctx.kube.record_event(obj, reason, message, warning=warning)
        if entry.get("triggers"):
            wake_notifier(ctx, ref, f"{(outcome.state or old).uid}/{old.version}")
        if _load_moved(ctx, old, outcome.state, loaded):
            wake_load(ctx, ref, f"{(outcome.state or old).uid}/{old.version}")
        return sent
    raise Conflict(f"{ref.subject}: state kept changing; giving up for now")


def wake_notifier(ctx: Context, ref: RolloutRef, key: str) -> None:
    """Tell the notifier that the history holds something to send (best effort: the tick
    wakes it when a hint is lost). The notifier reads what is due from the history, so a
    hint sent twice sends nothing twice."""
    hint = events.new(
        events.Type.MILESTONE_REACHED,
        ref,
        event_id=events.derived_id(key, ref.subject),
    )
    try:
        sink.send(ctx.broker_url, hint, token=ctx.broker_token)
    except sink.SinkError as exc:
        log.warning("%s: notifier not woken (the tick will): %s", ref.subject, exc)


def _load_moved(
    ctx: Context, old: RolloutState, new: RolloutState | None, loaded: Rollout | None
) -> bool:
    """Whether the load a rollout with load (``shared.loads``) wants may have changed."""
    if new is not None and loads.mark(old) == loads.mark(new):
        return False
    if loaded is not None:
        return loads.configured(loaded.spec)
    return bool(ctx.store.load_progress(old.ref).get("run"))  # it has had load


def wake_load(ctx: Context, ref: RolloutRef, key: str) -> None:
    """Tell the load generator that the load wanted may have changed (best effort: a slice
    in progress sees it within a second, and the tick wakes it when a hint is lost)."""
    hint = events.new(
        events.Type.LOAD_REQUESTED, ref, event_id=events.derived_id(key, f"load/{ref.subject}")
    )
    try:
        sink.send(ctx.broker_url, hint, token=ctx.broker_token)
    except sink.SinkError as exc:
        log.warning("%s: load generator not woken (the tick will): %s", ref.subject, exc)


def _decide(
    ctx: Context,
    event: CloudEvent,
    state: RolloutState,
    decide: Decide,
    expect: Expect,
    wanted: dict[str, object],
    refused: Refused | None,
) -> tuple[Outcome | None, Rollout | None]:
    """The outcome, and the live Rollout when the guard loaded it."""
    why = expect.mismatch(state, wanted)
    loaded = None
    if why is None and expect.rollout:
        loaded = rollouts.current(ctx, state.ref)
        if loaded is None:
            why = "the rollout is gone or its spec is invalid"
    if why is not None:
        log.debug(
            "%s %s: %s does not apply: %s", ctx.function, state.ref.subject, event.get_id(), why
        )
        return (refused(state, why) if refused is not None else None), None
    try:
        return decide(Turn(ctx, event, state, loaded)), loaded
    except routers.NotReady as exc:
        return blocked(state, exc), loaded


def blocked(state: RolloutState, exc: routers.NotReady) -> Outcome | None:
    """The rollout waits for a routing object to be fixed: said in its status and Events, not
    answered with an error the Broker would retry in vain. The object's watch event (or the
    tick) tries again, and the transition that then succeeds clears it."""
    message = f"{exc}"
    if state.blocked == message or not state.exists:
        return None
    return Outcome(
        state.with_(blocked=message, reason=exc.reason),
        note=f"waiting: {message}",
        events=((exc.reason, message, True),),
        consume=False,
    )


def _stage(state: RolloutState | None) -> str:
    return state.stage.value if state is not None else "deleted"


def _entry(
    ctx: Context, event: CloudEvent, old: RolloutState, outcome: Outcome
) -> dict[str, object]:
    new = outcome.state
    entry: dict[str, object] = {
        "event": event.get_type(),
        "id": event.get_id(),
        "function": ctx.function,
        "from": old.stage.value if old.exists else "",
        "to": _stage(new),
        "step": new.step if new else None,
        "weight": new.weight if new else None,
        "revision": new.canary_revision if new else None,
        "uid": (new or old).uid,
        "note": outcome.note,
    }
    fired = milestones.triggers(old, new)
    if fired and new is not None:
        entry["triggers"] = list(fired)
        entry["release"] = new.canary_revision or old.canary_revision or new.stable_revision
        entry["stable"] = new.stable_revision
    if outcome.user:
        entry["user"] = outcome.user
        entry["command"] = outcome.command
    return entry


def run_command(
    ctx: Context,
    event: CloudEvent,
    decide: Callable[[Turn, commands.Command], Outcome | None],
    expect: Expect,
) -> CloudEvent | None:
    """Carry out the command ``event`` announces, as the live Rollout lists it: like
    :func:`run`, but a command that does not apply is consumed and recorded as "ignored: why"
    (never left to fire later). An event naming no listed, current command of its type does
    nothing at all: it leaves nothing in Redis."""
    ref = RolloutRef.parse(event.get_subject())
    command_id = events.ext(event, Ext.COMMAND)
    if not command_id:
        raise events.MalformedEvent(f"{event.get_type()} needs the command extension")
    obj = ctx.kube.rollout(ref.namespace, ref.name)
    command = commands.find(obj, command_id, event.get_type(), ctx.now())
    if command is None:
        log.info("%s: no current command %s to carry out", ref.subject, command_id)
        return None
    return run(ctx, event, lambda turn: decide(turn, command), expect, refused=command.ignored)


def _again(ctx: Context, ref: RolloutRef, key: str) -> CloudEvent | None:
    """A redelivery of a committed event. If nothing was committed since (its first delivery
    may have died after the commit, before converging or replying), converge again and give
    the reply committed with it; if the rollout moved on, what it led to happened: nothing to
    do (answering again would replay the whole chain of transitions after it)."""
    answer = ctx.store.answer(ref, key)
    if answer is None:
        return None
    version, reply = answer
    if ctx.store.load(ref).version != version:
        return None
    settle(ctx, ref)
    return events.from_json(reply) if reply else None


def settle(
    ctx: Context,
    ref: RolloutRef,
    rollout: Rollout | None = None,
    *,
    converge: bool = True,
    drift: bool = False,
) -> None:
    """Bring the traffic levels (unless the commit moved none: ``converge``), then the
    Rollout's status, to the latest committed state. ``rollout`` is the live Rollout when the
    caller has just read it."""
    if converge:
        rollout = rollout or rollouts.current(ctx, ref)
        if rollout is not None:
            levels.converge(ctx, rollout, drift=drift)  # traffic first
    mirror(ctx, ref, rollout.obj if rollout is not None else None)


def mirror(ctx: Context, ref: RolloutRef, known: dict[str, Any] | None = None) -> None:
    """Write the latest state into the Rollout's status, fenced like the levels (best effort:
    the tick heals a miss). ``known`` is the Rollout as last read (tried first; a stale one
    only costs a conflict and a read)."""

    def change(current: dict[str, Any]) -> dict[str, Any] | None:
        state = ctx.store.load(ref)
        if not state.exists:
            return None
        shown = (current.get("status") or {}).get("stateVersion")
        newer = isinstance(shown, int) and shown > state.version
        recent = [
            entry
            for entry in ctx.store.recent(ref, status.HISTORY)
            if entry.get("uid", state.uid) == state.uid  # not a deleted namesake's
        ]
        desired = status.of(state, ctx.now(), recent, blue_green=status.is_blue_green(current))
        kept = commands.pending(
            current, lambda c: ctx.store.processed(ref, events.key(c.event(ref))), ctx.now()
        )
        if newer:  # a newer state was mirrored meanwhile: only the pruning is left to do
            return {"status": {commands.STATUS_FIELD: kept}} if kept is not None else None
        if kept is not None:
            desired[commands.STATUS_FIELD] = kept  # consumed: the history keeps them
        elif status.same(current.get("status"), desired):
            return None  # nothing but timestamps would change: spare the watchers a write
        return {"status": desired}

    try:
        ctx.kube.fenced_patch(
            models.API_VERSION,
            models.PLURAL,
            ref.namespace,
            ref.name,
            change,
            sub="status",
            known=known,
        )
    except (kube.Transient, kube.ApiError) as exc:
        log.warning("%s: status not mirrored: %s", ref.subject, exc)
