"""Which transitions a person cares about, and what they are called.

A transition is a *milestone* when it changes what a person watching the rollout would act on:
a new revision starts (``RolloutUpdated``), a step completes (``RolloutStepCompleted``), the
rollout pauses or resumes (``RolloutPaused``, ``RolloutResumed``), the new revision is
promoted (``RolloutPromoting``) and becomes stable (``RolloutCompleted``), or the target goes
back to the stable template (``RolloutRolledBack``). Argo Rollouts' event reasons where it has
them. Aborts are announced by the functions that
abort, with the reason they know (a failed metric, a missed deadline), as warnings.

:func:`triggers` names the same transitions, aborts included, as the notification triggers a
subscription lists (Argo Rollouts' trigger names where it has them): the history entry of the
transition keeps them, and ``functions.notify`` sends what the subscribers asked for. Pure: the
caller records the Normal Event and the history entry.
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
    if new.stage in (Stage.SCALING, Stage.GATED) and fresh:
        return "RolloutUpdated"
    if new.stage == Stage.HEALTHY and old.stage == Stage.PROMOTING:
        return "RolloutCompleted"
    if new.stage == Stage.HEALTHY and old.stage in ACTIVE:
        return "RolloutRolledBack"
    if new.stage == Stage.PROMOTING and old.stage != Stage.PROMOTING:
        return "RolloutPromoting"
    held = (Stage.PAUSED, Stage.GATED)
    if new.stage in held and old.stage not in held:
        return "RolloutPaused"
    if old.stage in held and new.stage in ACTIVE and new.stage not in held:
        return "RolloutResumed"
    if new.stage in ACTIVE and old.stage in ACTIVE and new.step > old.step and not fresh:
        return "RolloutStepCompleted"
    return None


TRIGGERS: dict[str, str] = {
    "on-rollout-updated": "a new revision starts rolling out",
    "on-rollout-step-completed": "a step of the canary completed",
    "on-rollout-paused": "the rollout paused (a pause step, an inconclusive analysis, a person)",
    "on-rollout-resumed": "the rollout goes on after a pause",
    "on-rollout-completed": "the new revision is stable and serves all traffic",
    "on-rollout-rolled-back": "the target went back to the stable revision mid-rollout",
    "on-rollout-aborted": "the rollout was aborted: traffic is back on the stable revision",
    "on-analysis-run-failed": "an analysis failed (the rollout aborts)",
    "on-analysis-run-error": "an analysis could not measure (the rollout aborts)",
}
"""Every notification trigger, with what it means (the README's table)."""

FAILURES = frozenset({"on-rollout-aborted", "on-analysis-run-failed", "on-analysis-run-error"})
"""Triggers that report a failure: the subscribers' mentions are added to them."""

_TRIGGER_OF = {
    "RolloutUpdated": "on-rollout-updated",
    "RolloutStepCompleted": "on-rollout-step-completed",
    "RolloutPaused": "on-rollout-paused",
    "RolloutResumed": "on-rollout-resumed",
    "RolloutCompleted": "on-rollout-completed",
    "RolloutRolledBack": "on-rollout-rolled-back",
}


def triggers(old: RolloutState, new: RolloutState | None) -> tuple[str, ...]:
    """The notification triggers the transition ``old`` -> ``new`` fires (most specific
    first; none for most transitions)."""
    if new is None or not old.exists:
        return ()
    if new.stage == Stage.ABORTED and old.stage != Stage.ABORTED:
        if new.reason == "AnalysisFailed":
            return ("on-analysis-run-failed", "on-rollout-aborted")
        if new.reason == "AnalysisError":
            return ("on-analysis-run-error", "on-rollout-aborted")
        return ("on-rollout-aborted",)
    reason = milestone(old, new)
    found = _TRIGGER_OF.get(reason or "")
    same = old.canary_revision == new.canary_revision
    stepped = new.step > old.step and old.stage in ACTIVE and same
    if stepped and new.stage in (*ACTIVE, Stage.PROMOTING):  # a pause step ends too (Argo)
        also = (found,) if found and found != "on-rollout-step-completed" else ()
        return ("on-rollout-step-completed", *also)
    return (found,) if found else ()
