"""The idempotency contract, written once: dedupe, guard, effects, commit, reply.

Every function hands :func:`run` its event, the guard (:class:`Expect`: what the event needs of
the rollout to still apply) and a *decide* callable. ``run`` parses the event's subject and the
extensions the guard names (a malformed event is refused before anything is read), loads the
rollout's state, checks the guard, loads the live Rollout, and calls *decide* with a
:class:`Turn`. An event that does not apply is acknowledged and changes nothing; it is not
remembered as processed, so it applies if it is sent again when it does (the guards keep a stale
one harmless). *decide* performs its level-based effects on Kubernetes and returns an
:class:`Outcome` with the new state; ``run`` commits with compare-and-set (the processed-event
marker and the history entry in the same atomic step), mirrors the state into the Rollout's
status and returns the reply. On a concurrent change it reloads and decides again; effects are
level-based, so deciding twice is harmless. Function modules hold only their guard and decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from cloudevents.core.v1.event import CloudEvent

from shared import events, kube, rollouts, status
from shared.context import Context
from shared.events import Ext, RolloutRef
from shared.models import RolloutSpec
from shared.rollouts import Rollout
from shared.state import AlreadyProcessed, Conflict, RolloutState, Stage

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


@dataclass(frozen=True)
class Expect:
    """The guard: what an event needs of the rollout to still apply."""

    stages: frozenset[Stage] | None = None
    """The stages in which the event applies (None: any)."""
    attempt: bool = False
    """The event's ``revision`` and ``attempt`` extensions must name the state's canary
    revision and attempt: an event of an older attempt is stale."""
    step: bool = False
    """The event's ``step`` extension must be the state's step."""
    unpaused: bool = False
    """Nothing moves while a person holds the rollout paused."""
    rollout: bool = True
    """The live Rollout must exist with a valid spec (``initialize`` and ``cleanup`` read it
    themselves)."""
    refusal: str = ""
    """For a person's command, what to say when the stage does not fit ("nothing to abort")."""

    def parse(self, event: CloudEvent) -> dict[str, object]:
        """The extensions the guard compares; MalformedEvent if one is missing."""
        found: dict[str, object] = {}
        if self.attempt:
            found["canary_revision"], found["attempt"] = events.attempt_of(event)
        if self.step:
            step = events.ext_int(event, Ext.STEP)
            if step is None:
                raise events.MalformedEvent(f"{event.get_type()} needs the step extension")
            found["step"] = step
        return found

    def mismatch(self, state: RolloutState, wanted: dict[str, object]) -> str | None:
        """Why the event does not apply to ``state`` (None when it does)."""
        if self.stages is not None and state.stage not in self.stages:
            return f"{self.refusal or 'not now'} (phase {state.phase})"
        for name, value in wanted.items():
            if getattr(state, name) != value:
                return f"the rollout moved on ({name} {getattr(state, name)}, not {value})"
        if self.unpaused and state.paused_by:
            return f"paused by {state.paused_by}"
        return None


ANY = Expect(rollout=False)
"""No guard: *decide* checks everything itself."""


@dataclass(frozen=True)
class Turn:
    """One delivery of an event that applies: what *decide* decides from."""

    ctx: Context
    event: CloudEvent
    state: RolloutState
    loaded: Rollout | None

    @property
    def ref(self) -> RolloutRef:
        return self.state.ref

    @property
    def rollout(self) -> Rollout:
        """The live Rollout (loaded because the guard asked for it)."""
        if self.loaded is None:
            raise RuntimeError("this transition's guard does not load the Rollout")
        return self.loaded

    @property
    def spec(self) -> RolloutSpec:
        return self.rollout.spec


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
    for _ in range(ATTEMPTS):
        if ctx.store.processed(ref, key):
            return None
        old = ctx.store.load(ref)
        outcome = _decide(ctx, event, old, decide, expect, wanted, refused)
        if outcome is None or (outcome.state == old and not outcome.record):
            return None if outcome is None else outcome.reply
        if ctx.before_commit is not None:
            ctx.before_commit(ctx.function)
        try:
            ctx.store.commit(
                old, outcome.state, event_key=key, history=_entry(ctx, event, old, outcome)
            )
        except Conflict:
            continue
        except AlreadyProcessed:
            return None
        if outcome.state is not None:
            mirror(ctx, outcome.state)
        log.info("%s %s: %s", ctx.function, ref.subject, outcome.note or _stage(outcome.state))
        return outcome.reply
    raise Conflict(f"{ref.subject}: state kept changing; giving up for now")


def _decide(
    ctx: Context,
    event: CloudEvent,
    state: RolloutState,
    decide: Decide,
    expect: Expect,
    wanted: dict[str, object],
    refused: Refused | None,
) -> Outcome | None:
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
        return refused(state, why) if refused is not None else None
    return decide(Turn(ctx, event, state, loaded))


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
        "note": outcome.note,
    }
    if outcome.user:
        entry["user"] = outcome.user
        entry["command"] = outcome.command
    return entry


def mirror(ctx: Context, state: RolloutState) -> None:
    """Write the state into the Rollout's status (best effort: the tick heals a miss)."""
    try:
        recent = ctx.store.recent(state.ref, status.HISTORY)
        ctx.kube.patch_rollout_status(
            state.namespace, state.name, status.of(state, ctx.now(), recent)
        )
    except (kube.Transient, kube.ApiError) as exc:
        log.warning("%s/%s: status not mirrored: %s", state.namespace, state.name, exc)
