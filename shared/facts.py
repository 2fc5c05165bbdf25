"""The events Ferry states about one rollout, built from its state.

A fact's id follows from what it says (``events.fact_id``: type, subject and extensions), and
every fact names the Rollout's uid (``rolloutuid``): a Rollout deleted and created again under
the same name is another rollout, whose facts never collide with the old one's (they would be
dropped as already processed) and whose state never takes the old one's late events (the guard
compares the uid). Timers are keyed by the fact they fire. Pure: builds events, no I/O.
"""

from __future__ import annotations

from typing import Any

from cloudevents.core.v1.event import CloudEvent

from shared import events
from shared.events import Type
from shared.state import RolloutState


def of(state: RolloutState, type_: Type, **extensions: str | int) -> CloudEvent:
    """A fact about the rollout ``state`` belongs to."""
    named: dict[str, Any] = {"rolloutuid": state.uid, **extensions}
    return events.new(type_, state.ref, **named)


def of_attempt(state: RolloutState, type_: Type, **extensions: str | int) -> CloudEvent:
    """A fact about the rollout's current attempt at its canary revision."""
    return of(state, type_, revision=state.canary_revision, attempt=state.attempt, **extensions)
