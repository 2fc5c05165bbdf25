"""What the dashboard's pages show, shaped from the API's objects and the state store's history.

Pure functions from dicts to JSON-ready dicts: a list row per Rollout, and one rollout's page
(steps with the current one, weight over time, the history timeline with who did what,
analysis runs, Kubernetes Events, the Pods of each revision). No I/O, no authorization (the
app reads only what the person may see, then calls these).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from shared import models, tracing

Obj = dict[str, Any]


def _status(obj: Obj) -> Obj:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def _steps(obj: Obj) -> list[Obj]:
    blue_green = models.blue_green_steps(obj)
    if blue_green is not None:
        return [{models.BLUE_GREEN: text} for text in blue_green]
    canary = ((obj.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    steps = canary.get("steps")
    return [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []


def step_text(step: Obj) -> str:
    """A step as a person reads it (``setWeight: 20`` -> ``set weight 20%``)."""
    (kind, value), *_ = step.items() if step else (("?", None),)
    if kind == models.BLUE_GREEN:
        return str(value)
    if kind == "setWeight":
        return f"set weight {value}%"
    if kind == "pause":
        duration = (value or {}).get("duration") if isinstance(value, dict) else None
        return f"pause {duration}" if duration else "pause until promoted"
    if kind == "analysis":
        names = [t.get("templateName") for t in (value or {}).get("templates") or []]
        return "analysis " + ", ".join(str(n) for n in names if n)
    if kind == "experiment" and isinstance(value, dict):
        names = [t.get("name") for t in value.get("templates") or [] if isinstance(t, dict)]
        duration = value.get("duration")
        return (
            "experiment "
            + ", ".join(str(n) for n in names)
            + (f" for {duration}" if duration else "")
        )
    if kind in ("setHeaderRoute", "setMirrorRoute", "setCookieRoute"):
        name = (value or {}).get("name", "")
        removed = isinstance(value, dict) and set(value) == {"name"}
        verb = {"setHeaderRoute": "header", "setMirrorRoute": "mirror", "setCookieRoute": "cookie"}
        return f"{'remove ' if removed else ''}{verb[kind]} route {name}"
    return str(kind)


def strategy(obj: Obj) -> str:
    found = (obj.get("spec") or {}).get("strategy") or {}
    return next(iter(found), "canary") if isinstance(found, dict) else "canary"


def row(obj: Obj, now: float) -> Obj:
    """One line of the list of rollouts."""
    meta, status = obj.get("metadata") or {}, _status(obj)
    steps = _steps(obj)
    index = status.get("currentStepIndex")
    step = f"{min(int(index) + 1, len(steps))}/{len(steps)}" if steps and index is not None else ""
    return {
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "phase": status.get("phase") or "Pending",
        "message": status.get("message") or "",
        "strategy": strategy(obj),
        "step": step,
        "weight": status.get("canaryWeight", 0),
        "stable": status.get("stableRevision") or "",
        "canary": status.get("canaryRevision") or "",
        "active": (status.get("blueGreen") or {}).get("activeRevision") or "",
        "preview": (status.get("blueGreen") or {}).get("previewRevision") or "",
        "age": age(meta.get("creationTimestamp"), now),
    }


def age(stamp: Any, now: float) -> str:
    """``5s``, ``3m``, ``2h``, ``4d`` as kubectl prints ages."""
    try:
        seconds = now - datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(int(seconds), 0)}s"


def rollout(
    obj: Obj,
    history: list[Obj],
    runs: list[Obj],
    events: list[Obj],
    pods: list[Obj],
    now: float,
) -> Obj:
    """One rollout's page."""
    status = _status(obj)
    steps = _steps(obj)
    index = status.get("currentStepIndex")
    canary = status.get("canaryRevision") or ""
    return {
        **row(obj, now),
        "steps": [
            {"text": step_text(s), "current": i == index and bool(canary)}
            for i, s in enumerate(steps)
        ],
        "weights": [
            {"time": h.get("time"), "weight": h.get("weight")}
            for h in history
            if isinstance(h.get("weight"), int)
        ],
        "history": [
            {
                "time": h.get("time"),
                "note": h.get("note") or "",
                "user": h.get("user") or "",
                "to": h.get("to") or "",
            }
            for h in history
            if h.get("note")
        ],
        "analysis": [_run(r) for r in runs],
        "events": sorted((_event(e) for e in events), key=lambda e: str(e["time"]), reverse=True),
        "pods": _pods(obj, pods),
        "conditions": status.get("conditions") or [],
        "trace": trace(obj),
    }


def trace(obj: Obj) -> str:
    """The trace of the rollout's current revision (``shared.tracing``), or ``""``."""
    status = _status(obj)
    uid = str((obj.get("metadata") or {}).get("uid") or "")
    revision = str(status.get("canaryRevision") or status.get("stableRevision") or "")
    return tracing.trace_id(uid, revision) if uid and revision else ""


NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_BOUND = re.compile(rf"^\s*result(?:\[0\])?\s*(<=|<|>=|>)\s*({NUMBER})\s*$")
_FIRST_NUMBER = re.compile(NUMBER)


def thresholds(metric: Obj) -> list[Obj]:
    """The lines a metric's measurements are judged against: Flagger's ``thresholdRange``
    (``min``, ``max``), and a condition that compares the result with one number (``result <
    0.05``; kept for success, the bound a value must stay within). Other conditions draw no
    line."""
    found: list[Obj] = []
    bounds = metric.get("thresholdRange")
    if isinstance(bounds, dict):
        for side in ("min", "max"):
            if isinstance(bounds.get(side), (int, float)):
                found.append({"value": float(bounds[side]), "side": side})
    for key, when in (("successCondition", "success"), ("failureCondition", "failure")):
        matched = _BOUND.match(str(metric.get(key) or ""))
        if matched:
            op, value = matched.groups()
            below = op in ("<", "<=")
            side = ("max" if below else "min") if when == "success" else ("min" if below else "max")
            found.append({"value": float(value), "side": side})
    return found


def number(value: Any) -> float | None:
    """A measurement's value as a number (its first one, for ``[0.03]``), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    found = _FIRST_NUMBER.search(str(value or ""))
    return float(found.group(0)) if found else None


def _run(run: Obj) -> Obj:
    status = run.get("status") or {}
    declared = {
        m.get("name"): m
        for m in (run.get("spec") or {}).get("metrics") or []
        if isinstance(m, dict)
    }
    metrics = []
    for result in status.get("metricResults") or []:
        metrics.append(
            {
                "name": result.get("name"),
                "phase": result.get("phase"),
                "thresholds": thresholds(declared.get(result.get("name")) or {}),
                "measurements": [
                    {
                        "value": m.get("value"),
                        "number": number(m.get("value")),
                        "phase": m.get("phase"),
                        "at": m.get("finishedAt"),
                    }
                    for m in result.get("measurements") or []
                ],
            }
        )
    return {
        "name": (run.get("metadata") or {}).get("name"),
        "phase": status.get("phase") or "Pending",
        "message": status.get("message") or "",
        "metrics": metrics,
    }


def _event(event: Obj) -> Obj:
    return {
        "type": event.get("type"),
        "reason": event.get("reason"),
        "message": event.get("message"),
        "time": event.get("lastTimestamp") or event.get("eventTime") or "",
        "count": event.get("count", 1),
    }


def _pods(obj: Obj, pods: list[Obj]) -> Obj:
    """The Pods of the stable (primary) and canary (target) revisions."""
    target = ((obj.get("spec") or {}).get("targetRef") or {}).get("name", "")
    out: Obj = {"stable": [], "canary": []}
    for pod in pods:
        meta = pod.get("metadata") or {}
        owners = [str(o.get("name", "")) for o in meta.get("ownerReferences") or []]
        if any(o.startswith(f"{target}-primary-") for o in owners):
            side = "stable"
        elif any(o.startswith(f"{target}-") for o in owners):
            side = "canary"
        else:
            continue  # another workload's Pod
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions") or []
        )
        out[side].append({"name": meta.get("name"), "ready": ready})
    return out
