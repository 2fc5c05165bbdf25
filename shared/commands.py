"""People's commands (promote, abort, retry, pause, resume, confirm, restart): how they arrive
and are answered.

The API server is the only door for people: ``kubectl ferry`` appends a command to the
Rollout's ``status.commands`` through the status subresource (Kubernetes authenticates the
person, RBAC decides whether they may, an admission policy makes the recorded ``user`` the
authenticated one, and Git's spec is never written). ``detect`` announces each pending command
with an event that only says "look": ``transitions.run_command`` acts on the command as the
*live* Rollout lists it (:func:`find`), never on what an event claims, so a forged or replayed
event does nothing, and an event about a Rollout that does not exist leaves nothing behind.
The function that owns the transition carries the command out and records, in the history, who
asked and what came of it (also "ignored: why": a command is consumed exactly once). Consumed
commands are pruned from ``status.commands`` (:func:`pending`; the history keeps them), and a
command is acted on only within :data:`MAX_AGE` of its time, so neither a stale command nor a
lost Redis brings an old one back. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from shared import appends, events
from shared.clock import epoch
from shared.events import RolloutRef
from shared.outcomes import Outcome
from shared.state import RolloutState

STATUS_FIELD = "commands"
MAX_AGE = 10 * 60.0
"""Seconds after its time within which a command is carried out; older ones are not (a command
that waited that long is no longer what its issuer meant)."""
SKEW = 60.0
"""Seconds a command's time may lie ahead of Ferry's clock (clocks differ a little, not more)."""
ACTIONS = appends.ACTIONS
"""Each action a person may append, and the event that announces it (``shared.appends``)."""


@dataclass(frozen=True)
class Command:
    id: str
    action: str
    user: str
    time: float
    full: bool = False

    def event(self, ref: RolloutRef) -> CloudEvent:
        """The event announcing the command: its id follows from the command's, and it carries
        nothing else (the command itself is read from the Rollout)."""
        return events.new(ACTIONS[self.action], ref, command=self.id)

    def done(self, state: RolloutState, note: str, reply: CloudEvent | None = None) -> Outcome:
        return Outcome(state, reply=reply, note=note, user=self.user, command=self.id, record=True)

    def done_as(self, outcome: Outcome) -> Outcome:
        """``outcome``, as the carrying out of this command (who asked, consumed once)."""
        return replace(outcome, user=self.user, command=self.id, record=True)

    def ignored(self, state: RolloutState, why: str) -> Outcome:
        return Outcome(
            state,
            note=f"ignored: {self.action} by {self.user}: {why}",
            user=self.user,
            command=self.id,
            record=True,
        )


def _parse(raw: Any) -> Command | None:
    """A well-formed entry of ``status.commands`` (None for anything else)."""
    if not isinstance(raw, dict):
        return None
    when = epoch(raw.get("time"))
    user = raw.get("user")
    if (
        not isinstance(raw.get("id"), str)
        or raw.get("action") not in ACTIONS
        or when is None
        or not isinstance(user, str)
        or not user
    ):
        return None
    return Command(raw["id"], raw["action"], user, when, raw.get("full") is True)


def _entries(rollout: dict[str, Any]) -> list[Any]:
    listed = (rollout.get("status") or {}).get(STATUS_FIELD)
    return listed if isinstance(listed, list) else []


def current(command: Command, now: float) -> bool:
    """Whether ``command`` is recent enough to be carried out at ``now``."""
    return now - MAX_AGE <= command.time <= now + SKEW


def listed(rollout: dict[str, Any], now: float) -> list[Command]:
    """The well-formed, current commands in the Rollout's status, oldest first."""
    found = [c for c in map(_parse, _entries(rollout)) if c is not None and current(c, now)]
    return sorted(found, key=lambda c: c.time)


def find(rollout: dict[str, Any] | None, command_id: str, kind: str, now: float) -> Command | None:
    """The current command ``command_id`` of the action announced by events of type ``kind``,
    as the Rollout lists it (None: not listed, not current, or of another action)."""
    if rollout is None:
        return None
    found = next((c for c in listed(rollout, now) if c.id == command_id), None)
    return found if found is not None and ACTIONS[found.action] == kind else None


def pending(
    rollout: dict[str, Any], consumed: Callable[[Command], bool], now: float
) -> list[Any] | None:
    """``status.commands`` without the commands already carried out (which the history keeps),
    the expired ones (they will never be) and malformed entries; None when nothing is to be
    pruned."""
    entries = _entries(rollout)
    kept = []
    for raw in entries:
        command = _parse(raw)
        if command is not None and command.time >= now - MAX_AGE and not consumed(command):
            kept.append(raw)
    return None if len(kept) == len(entries) else kept
