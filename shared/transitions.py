"""The idempotency contract, written once: dedupe, guard, effects, commit, reply.

Every function hands :func:`run` its event and a *decide* callable. ``run`` loads the rollout's
state and calls *decide*, which checks that the event still applies (returning None when it does
not: the event is acknowledged and nothing changes, and it is not remembered as processed, so it
applies if it is sent again when it does), performs its level-based effects on
Kubernetes and returns an :class:`Outcome` with the new state. ``run`` then commits with
compare-and-set (the processed-event marker and the history entry in the same atomic step),
mirrors the state into the Rollout's status and returns the reply. On a concurrent change it
reloads and decides again; effects are level-based, so deciding twice is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from cloudevents.core.v1.event import CloudEvent

from shared import events, kube, status
from shared.context import Context
from shared.endpoint import InjectedCrash
from shared.state import AlreadyProcessed, Conflict, RolloutState

log = logging.getLogger(__name__)

ATTEMPTS = 5
"""Compare-and-set attempts before giving up with a transient error (the Broker retries)."""


@dataclass(frozen=True)
class Outcome:
    """What a transition decided: the new state (None deletes it) and the reply."""

    state: RolloutState | None
    reply: CloudEvent | None = None
    note: str = ""
    """One line for the history (what happened, in words)."""
    user: str = ""
    """Who asked, when a person's command caused the transition."""
    command: str = ""
    """The id of that command."""
    record: bool = False
    """Commit (history, processed marker) even if the state did not change: a command is
    consumed once, also when there was nothing to do."""


Decide = Callable[[RolloutState], Outcome | None]


def run(ctx: Context, event: CloudEvent, decide: Decide) -> CloudEvent | None:
    ref = events.RolloutRef.parse(event.get_subject())
    key = events.key(event)
    for _ in range(ATTEMPTS):
        if ctx.store.processed(ref, key):
            return None
        old = ctx.store.load(ref)
        outcome = decide(old)
        if outcome is None or (outcome.state == old and not outcome.record):
            # Nothing changed: no commit, no history, and no processed marker either. An event
            # that does not apply now (a pause ending while a person holds the rollout) must
            # still apply when it is sent again later; the guards keep a stale one harmless.
            return None if outcome is None else outcome.reply
        if ctx.fault_injection and ctx.store.take_fault(ctx.function):
            raise InjectedCrash(ctx.function)
        entry = {
            "event": event.get_type(),
            "id": event.get_id(),
            "function": ctx.function,
            "from": old.stage.value if old.exists else "",
            "to": outcome.state.stage.value if outcome.state else "deleted",
            "step": outcome.state.step if outcome.state else None,
            "weight": outcome.state.weight if outcome.state else None,
            "revision": outcome.state.canary_revision if outcome.state else None,
            "note": outcome.note,
        }
        if outcome.user:
            entry["user"] = outcome.user
            entry["command"] = outcome.command
        try:
            ctx.store.commit(old, outcome.state, event_key=key, history=entry)
        except Conflict:
            continue
        except AlreadyProcessed:
            return None
        if outcome.state is not None:
            mirror(ctx, outcome.state)
        log.info("%s %s: %s", ctx.function, ref.subject, outcome.note or entry["to"])
        return outcome.reply
    raise Conflict(f"{ref.subject}: state kept changing; giving up for now")


def mirror(ctx: Context, state: RolloutState) -> None:
    """Write the state into the Rollout's status (best effort: the tick heals a miss)."""
    try:
        recent = ctx.store.recent(state.ref, status.HISTORY)
        ctx.kube.patch_rollout_status(
            state.namespace, state.name, status.of(state, ctx.now(), recent)
        )
    except (kube.Transient, kube.ApiError) as exc:
        log.warning("status of %s/%s not mirrored: %s", state.namespace, state.name, exc)
