"""The Rollout's ``.status``, derived from the state in Redis: what kubectl, Argo CD and Flux see.

Redis is the source of truth for progress; the status is a mirror written after every commit
and re-written by the reconcile tick. Pure: builds dicts, writes nothing.
"""

from __future__ import annotations

from typing import Any

from shared import models
from shared.analysis import runs
from shared.clock import rfc3339
from shared.state import RolloutState, Stage

Obj = dict[str, Any]
HISTORY = 10
"""History entries mirrored into ``status.history`` (the full history stays in Redis)."""


def same(current: Any, desired: Obj) -> bool:
    """Whether the status ``current`` already says what ``desired`` says (``lastUpdateTime``
    aside, which every mirror renews)."""
    if not isinstance(current, dict):
        return False
    return all(_stamped(current.get(key)) == _stamped(value) for key, value in desired.items())


def _stamped(value: Any) -> Any:
    if isinstance(value, list):
        return [_stamped(item) for item in value]
    if isinstance(value, dict):
        return {k: _stamped(v) for k, v in value.items() if k != "lastUpdateTime"}
    return value


def of(
    state: RolloutState,
    now: float,
    history: list[dict[str, Any]] | None = None,
    *,
    blue_green: bool = False,
) -> Obj:
    """The status for ``state`` (a merge patch body's ``status``; ``blue_green``: with the
    revisions behind the active and preview Services). It never names ``status.commands``,
    which belongs to the people issuing commands."""
    pause: list[Obj] = []
    if state.stage == Stage.PAUSED:
        reason = (
            state.reason
            if state.reason == "InconclusiveAnalysis"
            else ("PausedByStep" if state.pause_until else "PausedIndefinitely")
        )
        pause = [{"reason": reason, "startTime": rfc3339(state.pause_started or now)}]
    if state.stage == Stage.GATED:
        pause = [
            {
                "reason": "GateClosed",
                "startTime": rfc3339(state.stage_since or now),
                "message": f"waiting at gate {state.gate}",
            }
        ]
    if state.paused_by:
        pause.append(
            {
                "reason": "PausedByUser",
                "startTime": rfc3339(now),
                "message": f"paused by {state.paused_by}",
            }
        )
    healthy = state.stage == Stage.HEALTHY and not state.blocked
    message = state.blocked or state.message
    stuck = state.stage in (Stage.ABORTED, Stage.INVALID) or bool(state.blocked)
    progressing = {
        "type": "Progressing",
        "status": "False" if stuck else "True",
        "reason": state.reason or state.stage.value,
        "message": message,
        "lastTransitionTime": rfc3339(state.stage_since or now),
        "lastUpdateTime": rfc3339(now),
    }
    conditions = [
        progressing,
        {
            "type": "Healthy",
            "status": "True" if healthy else "False",
            "reason": "RolloutHealthy" if healthy else state.reason or state.stage.value,
            "message": message,
            "lastTransitionTime": rfc3339(state.stage_since or now),
            "lastUpdateTime": rfc3339(now),
        },
    ]
    # kstatus's standard conditions (Flux's health checks, kpt, cli-utils): Ready only when
    # the target's revision is stable; Stalled (abnormal-true) when nothing moves on without a
    # person or a fix; Reconciling while anything else is under way, a pause included
    stalled = stuck or state.stage == Stage.STALLED
    why = state.reason or state.stage.value
    since = rfc3339(state.stage_since or now)
    conditions.append(
        {
            "type": "Ready",
            "status": "True" if healthy else "False",
            "reason": "Succeeded" if healthy else why,
            "message": message,
            "lastTransitionTime": since,
            "lastUpdateTime": rfc3339(now),
        }
    )
    if not healthy:
        conditions.append(
            {
                "type": "Stalled" if stalled else "Reconciling",
                "status": "True",
                "reason": why,
                "message": message,
                "lastTransitionTime": since,
                "lastUpdateTime": rfc3339(now),
            }
        )
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
    out: Obj = {
        "phase": state.phase,
        "message": message,
        "observedGeneration": state.generation,
        "stableRevision": state.stable_revision,
        "canaryRevision": state.canary_revision,
        "currentPodHash": state.canary_revision or state.stable_revision,
        "stateVersion": state.version,
        "currentStepIndex": state.step,
        "canaryWeight": state.weight,
        "pauseConditions": pause,
        "conditions": conditions,
        "analysis": runs.summary(state),
        "history": [_entry(e) for e in history or []],
    }
    if state.restarted_at:
        out["restartedAt"] = rfc3339(state.restarted_at)  # Argo's name: the last restart
    if blue_green:
        switched = state.weight >= 100 and state.canary_revision
        out["blueGreen"] = {
            "activeRevision": state.canary_revision if switched else state.stable_revision,
            "previewRevision": state.canary_revision or state.stable_revision,
        }
    return out


def is_blue_green(rollout: Obj) -> bool:
    """Whether the Rollout object asks for blue/green."""
    strategy = (rollout.get("spec") or {}).get("strategy")
    return isinstance(strategy, dict) and models.BLUE_GREEN in strategy


def _entry(entry: dict[str, Any]) -> Obj:
    out: Obj = {"time": rfc3339(float(entry.get("time", 0))), "note": entry.get("note", "")}
    if entry.get("user"):
        out["user"] = entry["user"]
        out["command"] = entry.get("command", "")
    return out
