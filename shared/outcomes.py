"""What a transition works with: the guard it sets (:class:`Expect`), what it is handed
(:class:`Turn`) and what it decides (:class:`Outcome`).

Plain data shared by ``shared.transitions`` (which runs a transition under the idempotency
contract), ``shared.commands`` and the functions. Nothing here reads or writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudevents.core.v1.event import CloudEvent

from shared import events
from shared.context import Context
from shared.events import Ext, RolloutRef
from shared.models import RolloutSpec
from shared.rollouts import Rollout
from shared.state import RolloutState, Stage


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
    events: tuple[tuple[str, str, bool], ...] = ()
    """Kubernetes Events to record on the Rollout once the transition took effect: (reason,
    message, warning). Recorded after the traffic levels, so telling never delays acting."""
    consume: bool = True
    """Mark the event processed. False when the event could not do its work yet (a routing
    object is missing): the same event, sent again once it is fixed, must still apply."""


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
    incarnation: bool = True
    """An event naming a Rollout uid (``rolloutuid``) applies only to that Rollout's state:
    not to a Rollout deleted and created again under the same name."""

    def parse(self, event: CloudEvent) -> dict[str, object]:
        """The extensions the guard compares; MalformedEvent if one is missing."""
        found: dict[str, object] = {"uid": events.ext(event, Ext.ROLLOUT_UID)}
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
        uid = wanted.get("uid")
        if self.incarnation and uid and state.exists and uid != state.uid:
            return "it is about a deleted Rollout of the same name"
        if self.stages is not None and state.stage not in self.stages:
            return f"{self.refusal or 'not now'} (phase {state.phase})"
        for name, value in wanted.items():
            if name != "uid" and getattr(state, name) != value:
                return f"the rollout moved on ({name} {getattr(state, name)}, not {value})"
        if self.unpaused and state.paused_by:
            return f"paused by {state.paused_by}"
        return None


ANY = Expect(rollout=False, incarnation=False)
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
