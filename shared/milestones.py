"""Which transitions a person cares about, and what they are called.

A transition is a *milestone* when it changes what a person watching the rollout would act on:
a new revision starts (``RolloutUpdated``), a step completes (``RolloutStepCompleted``), the
rollout pauses or resumes (``RolloutPaused``, ``RolloutResumed``), the new revision is
promoted (``RolloutPromoting``) and becomes stable (``RolloutCompleted``), or the target goes
back to the stable template (``RolloutRolledBack``). Argo Rollouts' event reasons where it has
them. Aborts are announced by the functions that
abort, with the reason they know (a failed metric, a missed deadline), as warnings. Pure: the
caller records the Normal Event (and, later, a notification).
"""

from __future__ import annotations

from shared.state import ACTIVE, RolloutState, Stage


def message(reason: str, old: RolloutState, note: str) -> str:
    """The Event's message: the transition's note (a completed step says which)."""
    if reason == "RolloutStepCompleted":
        return f"step {old.step + 1} completed; {note}"
    return note


def milestone(old: RolloutState, new: RolloutState | None) -> str | None:
    """The reason of the Normal Event for the transition ``old`` -> ``new``, if any."""
    if new is None or not old.exists or new.stage in (Stage.ABORTED, Stage.INVALID):
        return None
    fresh = new.canary_revision and new.canary_revision != old.canary_revision
    if new.stage == Stage.SCALING and fresh:
        return "RolloutUpdated"
    if new.stage == Stage.HEALTHY and old.stage == Stage.PROMOTING:
        return "RolloutCompleted"
    if new.stage == Stage.HEALTHY and old.stage in ACTIVE:
        return "RolloutRolledBack"
    if new.stage == Stage.PROMOTING and old.stage != Stage.PROMOTING:
        return "RolloutPromoting"
    if new.stage == Stage.PAUSED and old.stage != Stage.PAUSED:
        return "RolloutPaused"
    if old.stage == Stage.PAUSED and new.stage in ACTIVE and new.stage != Stage.PAUSED:
        return "RolloutResumed"
    if new.stage in ACTIVE and old.stage in ACTIVE and new.step > old.step and not fresh:
        return "RolloutStepCompleted"
    return None
