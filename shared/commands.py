"""People's commands (promote, abort, retry, pause, resume): how they arrive and are answered.

``kubectl ferry`` appends a command to the Rollout's ``status.commands`` through the status
subresource (so Kubernetes RBAC decides who may, and Git's spec is never written); ``detect``
turns each new one into its CloudEvent; the function that owns the transition carries it out
and records, in the history, who asked and what came of it (also "ignored: why" when there was
nothing to do: a command is consumed exactly once, never left to fire later). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from shared import events, transitions
from shared.context import Context
from shared.events import Ext, RolloutRef, Type
from shared.state import RolloutState
from shared.transitions import Expect, Outcome, Turn

STATUS_FIELD = "commands"
MAX_AGE = 12 * 3600.0
"""Seconds after which a command in the status is no longer carried out (stale)."""
ACTIONS = {
    "promote": Type.PROMOTION_REQUESTED,
    "abort": Type.ABORT_REQUESTED,
    "retry": Type.RETRY_REQUESTED,
    "pause": Type.PAUSE_REQUESTED,
    "resume": Type.RESUME_REQUESTED,
}


@dataclass(frozen=True)
class Command:
    id: str
    action: str
    user: str
    time: float
    full: bool = False

    def event(self, ref: RolloutRef) -> CloudEvent:
        """The CloudEvent that carries the command out (its id follows from the command's)."""
        return events.new(
            ACTIONS[self.action],
            ref,
            data={"user": self.user, "full": self.full, "time": self.time},
            command=self.id,
        )

    def done(self, state: RolloutState, note: str, reply: CloudEvent | None = None) -> Outcome:
        return Outcome(state, reply=reply, note=note, user=self.user, command=self.id, record=True)

    def ignored(self, state: RolloutState, why: str) -> Outcome:
        return Outcome(
            state,
            note=f"ignored: {self.action} by {self.user}: {why}",
            user=self.user,
            command=self.id,
            record=True,
        )


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def listed(rollout: dict[str, Any], now: float) -> list[Command]:
    """The well-formed, recent commands in the Rollout's status, oldest first."""
    found = []
    for raw in (rollout.get("status") or {}).get(STATUS_FIELD) or []:
        if not isinstance(raw, dict):
            continue
        when = _epoch(raw.get("time"))
        if (
            not isinstance(raw.get("id"), str)
            or raw.get("action") not in ACTIONS
            or when is None
            or now - when > MAX_AGE
        ):
            continue
        found.append(
            Command(
                raw["id"],
                raw["action"],
                str(raw.get("user") or "unknown"),
                when,
                bool(raw.get("full")),
            )
        )
    return sorted(found, key=lambda c: c.time)


def of(event: CloudEvent) -> Command:
    """The command an event carries out."""
    command_id = events.ext(event, Ext.COMMAND)
    data = events.data(event)
    action = next((a for a, t in ACTIONS.items() if t == event.get_type()), None)
    if not command_id or action is None:
        raise events.MalformedEvent(f"{event.get_type()} needs the command extension")
    return Command(
        command_id,
        action,
        str(data.get("user") or "unknown"),
        float(data.get("time") or 0.0),
        bool(data.get("full")),
    )


def run(
    ctx: Context,
    event: CloudEvent,
    decide: Callable[[Turn, Command], Outcome | None],
    expect: Expect,
) -> CloudEvent | None:
    """Carry out the command ``event`` announces: like ``transitions.run``, but a command
    that does not apply is consumed and recorded as "ignored: why" (never left to fire later)."""
    command = of(event)
    return transitions.run(
        ctx, event, lambda turn: decide(turn, command), expect, refused=command.ignored
    )
