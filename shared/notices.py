"""What a notification says: a :class:`~shared.notifiers.Notice` built from one history entry
of a rollout (the transition and the triggers it fired) and where the rollout stands now.

Pure, and holds nothing secret: the history and the Rollout never do. ``functions.notify``
builds one per entry and subscription; the notifiers render it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.analysis import runs
from shared.milestones import FAILURES
from shared.notifiers import Notice
from shared.state import ACTIVE, RolloutState, Stage

ACTIONS = {
    Stage.PAUSED: ("promote", "abort"),
    Stage.STEPPING: ("promote", "abort"),
    Stage.ANALYZING: ("promote", "abort"),
    Stage.SCALING: ("abort",),
    Stage.STALLED: ("abort",),
}
"""The commands a message offers while the rollout is in each stage."""


def of(
    entry: Mapping[str, Any],
    state: RolloutState,
    rollout: Mapping[str, Any],
    *,
    mentions: tuple[str, ...] = (),
    dashboard: str = "",
) -> Notice:
    """The notice of history ``entry``; ``state`` and ``rollout`` are the rollout now."""
    triggers = tuple(str(t) for t in entry.get("triggers") or ())
    revision = str(entry.get("release") or entry.get("revision") or state.stable_revision)
    steps = len(
        ((rollout.get("spec") or {}).get("strategy") or {}).get("canary", {}).get("steps") or []
    )
    current = state.canary_revision == revision and state.stage in ACTIVE
    failed = bool(FAILURES.intersection(triggers))
    return Notice(
        namespace=state.namespace,
        name=state.name,
        uid=state.uid,
        revision=revision,
        triggers=triggers,
        headline=headline(triggers[0] if triggers else "", entry, steps),
        detail=str(entry.get("note") or ""),
        phase=state.phase,
        step=f"{state.step}/{steps}" if current and steps else "",
        weight=state.weight if current else 0,
        analysis=_analysis(state) if state.canary_revision == revision else "",
        stable=state.stable_revision,
        at=float(entry.get("time") or 0.0),
        failed=failed,
        link=f"{dashboard.rstrip('/')}/rollouts/{state.namespace}/{state.name}"
        if dashboard
        else "",
        mentions=mentions if failed else (),
        actions=ACTIONS.get(state.stage, ()) if current and not state.paused_by else (),
        user=str(entry.get("user") or ""),
    )


def headline(trigger: str, entry: Mapping[str, Any], steps: int) -> str:
    """The transition in one line."""
    revision = entry.get("release") or entry.get("revision") or ""
    note = str(entry.get("note") or "")
    step, weight = entry.get("step"), entry.get("weight")
    if trigger == "on-rollout-updated":
        return f"Revision {revision} is rolling out"
    if trigger == "on-rollout-step-completed":
        return f"Step {step} of {steps} completed: canary at {weight}%"
    if trigger == "on-rollout-paused":
        return f"Paused at step {step} of {steps}" + (f": {note}" if note else "")
    if trigger == "on-rollout-resumed":
        return f"Resumed at step {step} of {steps}"
    if trigger == "on-rollout-completed":
        return f"Revision {revision} is stable and serves all traffic"
    if trigger == "on-rollout-rolled-back":
        return f"Rolled back: the target is on the stable revision {entry.get('stable') or ''}"
    if trigger in FAILURES:
        return f"Aborted: {note}" if note else "Aborted"
    return note


def _analysis(state: RolloutState) -> str:
    """The latest analysis of the current attempt, in one line."""
    found = sorted(runs.runs_of(state).values(), key=lambda r: r.started_at)
    if not found:
        return ""
    last = found[-1]
    if last.phase is None:
        return f"analysis {last.name} Running"
    return runs.verdict(last)
