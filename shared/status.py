"""The Rollout's ``.status``, derived from the state in Redis: what kubectl, Argo CD and Flux see.

Redis is the source of truth for progress; the status is a mirror written after every commit
and re-written by the reconcile tick. Pure: builds dicts, writes nothing.
"""

from __future__ import annotations

from typing import Any

from shared.analysis import runs
from shared.clock import rfc3339
from shared.state import RolloutState, Stage

Obj = dict[str, Any]
HISTORY = 10
"""History entries mirrored into ``status.history`` (the full history stays in Redis)."""


def of(state: RolloutState, now: float, history: list[dict[str, Any]] | None = None) -> Obj:
    """The status for ``state`` (a merge patch body's ``status``). It never names
    ``status.commands``, which belongs to the people issuing commands."""
    pause: list[Obj] = []
    if state.stage == Stage.PAUSED:
        reason = (
            state.reason
            if state.reason == "InconclusiveAnalysis"
            else ("PausedByStep" if state.pause_until else "PausedIndefinitely")
        )
        pause = [{"reason": reason, "startTime": rfc3339(state.pause_started or now)}]
    if state.paused_by:
        pause.append(
            {
                "reason": "PausedByUser",
                "startTime": rfc3339(now),
                "message": f"paused by {state.paused_by}",
            }
        )
    healthy = state.stage == Stage.HEALTHY
    progressing = {
        "type": "Progressing",
        "status": "False" if state.stage in (Stage.ABORTED, Stage.INVALID) else "True",
        "reason": state.reason or state.stage.value,
        "message": state.message,
        "lastTransitionTime": rfc3339(state.stage_since or now),
        "lastUpdateTime": rfc3339(now),
    }
    conditions = [
        progressing,
        {
            "type": "Healthy",
            "status": "True" if healthy else "False",
            "reason": "RolloutHealthy" if healthy else state.reason or state.stage.value,
            "message": state.message,
            "lastTransitionTime": rfc3339(state.stage_since or now),
            "lastUpdateTime": rfc3339(now),
        },
    ]
    if state.stage == Stage.INVALID:
        conditions.append(
            {
                "type": "InvalidSpec",
                "status": "True",
                "reason": "InvalidSpec",
                "message": state.message,
                "lastTransitionTime": rfc3339(state.stage_since or now),
                "lastUpdateTime": rfc3339(now),
            }
        )
    return {
        "phase": state.phase,
        "message": state.message,
        "observedGeneration": state.generation,
        "stableRevision": state.stable_revision,
        "canaryRevision": state.canary_revision,
        "currentStepIndex": state.step,
        "canaryWeight": state.weight,
        "pauseConditions": pause,
        "conditions": conditions,
        "analysis": runs.summary(state),
        "history": [_entry(e) for e in history or []],
    }


def _entry(entry: dict[str, Any]) -> Obj:
    out: Obj = {"time": rfc3339(float(entry.get("time", 0))), "note": entry.get("note", "")}
    if entry.get("user"):
        out["user"] = entry["user"]
        out["command"] = entry.get("command", "")
    return out
