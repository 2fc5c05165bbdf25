"""What ``kubectl ferry`` prints: a rollout's live view, the rollouts table, the history.

Pure: every function takes the objects as the Kubernetes API returned them (dicts, with any
field possibly absent) and returns text. No I/O, no clock reads (``now`` is passed in).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cli.kubectl_ferry import drawing
from shared import clock, models

Obj = dict[str, Any]

DONE, CURRENT, FAILED, TODO = "✔", "▶", "✘", " "
"""Step markers: done, the current one, where a degraded rollout stopped, still to come."""
HISTORY_SHOWN = 5


def _status(rollout: Obj) -> Obj:
    return dict(rollout.get("status") or {})


def _steps(rollout: Obj) -> list[Any]:
    blue_green = models.blue_green_steps(rollout)
    if blue_green is not None:
        return [{models.BLUE_GREEN: text} for text in blue_green]
    canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    steps = canary.get("steps") if isinstance(canary, dict) else None
    return list(steps) if isinstance(steps, list) else []


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def parse_time(text: Any) -> datetime | None:
    """A Kubernetes timestamp (RFC 3339), or None."""
    stamp = clock.epoch(text)
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC)


def age(timestamp: Any, now: datetime) -> str:
    """How long ago, the way kubectl prints an AGE column (``45s``, ``3m12s``, ``5h``, ``2d``)."""
    then = parse_time(timestamp)
    if then is None:
        return "<unknown>"
    seconds = max(0, int((now - then).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if days < 2:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d"


def describe_step(step: Any) -> str:
    """One step in words (a canary's as written; blue/green's as :func:`_steps` made them)."""
    if not isinstance(step, dict) or len(step) != 1:
        return str(step)
    ((kind, value),) = step.items()
    if kind == models.BLUE_GREEN:
        return str(value)
    if kind == "setWeight":
        return f"setWeight {value}%"
    if kind == "pause":
        duration = (value or {}).get("duration") if isinstance(value, dict) else None
        return "pause (until promoted)" if duration is None else f"pause {duration}"
    if kind == "analysis":
        templates = (value or {}).get("templates") if isinstance(value, dict) else None
        names = [str(t.get("templateName")) for t in templates or [] if isinstance(t, dict)]
        return f"analysis {', '.join(names)}" if names else "analysis"
    if kind == "experiment" and isinstance(value, dict):
        return f"experiment {experiment_text(value)}"
    if kind == "setCookieRoute" and isinstance(value, dict):
        name, cookie = value.get("name", "?"), value.get("cookieName")
        if not cookie:
            return f"setCookieRoute {name} (removed)"
        return f"setCookieRoute {name}: cookie {cookie}={value.get('value', 'always')} -> canary"
    if kind in ("setHeaderRoute", "setMirrorRoute") and isinstance(value, dict):
        return _route_step(kind, value)
    if kind == "load" and isinstance(value, dict):
        rps = value.get("rps")
        return f"load {rps} rps" if rps else "load stopped"
    return str(kind)


def load_text(rollout: Obj) -> str | None:
    """``status.loadTest`` in a line: ``Running 50 rps (spec.loadTest): 1,234 sent, 49.8/s
    achieved, 2 errors``; None when the rollout never had load."""
    load = _status(rollout).get("loadTest")
    if not isinstance(load, dict) or not load.get("phase"):
        return None
    text = str(load.get("phase"))
    if load.get("rps"):
        text += f" {_int(load.get('rps'))} rps"
    if load.get("source"):
        text += f" ({load['source']})"
    if "sent" in load:
        text += (
            f": {_int(load.get('sent')):,} sent, {load.get('achievedRPS', '0')}/s achieved, "
            f"{_int(load.get('errors')):,} errors"
        )
        if _int(load.get("missed")):
            text += f", {_int(load.get('missed')):,} missed"
    if load.get("message") and load.get("phase") != "Running":
        text += f" ({load['message']})"
    return text


def experiment_text(value: Obj) -> str:
    """An experiment step's templates (with their share of traffic) and duration."""
    parts = []
    for template in value.get("templates") or []:
        if isinstance(template, dict):
            weight = template.get("weight")
            share = f" {weight}%" if weight else ""
            parts.append(f"{template.get('name')}={template.get('specRef')}{share}")
    duration = value.get("duration")
    return ", ".join(parts) + (f" for {duration}" if duration else "")


def _match(value: Any) -> str:
    """``{exact: "1"}`` as ``= 1``, ``{prefix: "/api"}`` as ``^= /api``, a regex as ``~ re``."""
    if not isinstance(value, dict) or len(value) != 1:
        return "?"
    ((kind, text),) = value.items()
    return f"{ {'exact': '=', 'prefix': '^=', 'regex': '~'}.get(kind, kind) } {text}"


def _route_step(kind: str, value: Obj) -> str:
    name, match = value.get("name", "?"), value.get("match")
    if not isinstance(match, list):
        return f"{kind} {name} (removed)"
    if kind == "setHeaderRoute":
        parts = [
            f"{m.get('headerName')} {_match(m.get('headerValue'))}"
            for m in match
            if isinstance(m, dict)
        ]
        return f"setHeaderRoute {name}: {' and '.join(parts)} -> canary"
    ways = []
    for m in match:
        if not isinstance(m, dict):
            continue
        part = [f"{k} {_match(m[k])}" for k in ("method", "path") if k in m]
        part += [f"{h} {_match(v)}" for h, v in (m.get("headers") or {}).items()]
        ways.append(" and ".join(part))
    percentage = value.get("percentage", 100)
    return f"setMirrorRoute {name}: {percentage}% of {' or '.join(ways)} copied to canary"


def step_text(rollout: Obj) -> str:
    """``2/4``: the step running (1-based) of how many; ``4/4`` when done or at rest."""
    total = len(_steps(rollout))
    status = _status(rollout)
    if not status.get("phase"):
        return "-"
    if status.get("phase") == "Healthy":
        return f"{total}/{total}"
    return f"{min(_int(status.get('currentStepIndex')) + 1, total)}/{total}"


def step_markers(rollout: Obj) -> list[str]:
    """A marker per step: done, current (or failed, when Degraded), or still to come."""
    status = _status(rollout)
    steps = _steps(rollout)
    phase = status.get("phase")
    if phase == "Healthy":
        return [DONE] * len(steps)
    if not phase:
        return [TODO] * len(steps)
    index = _int(status.get("currentStepIndex"))
    here = FAILED if phase == "Degraded" else CURRENT
    return [DONE if i < index else here if i == index else TODO for i in range(len(steps))]


def weight_text(rollout: Obj) -> str:
    weight = _status(rollout).get("canaryWeight")
    return f"{weight}%" if isinstance(weight, int) else "-"


def phase_text(rollout: Obj) -> str:
    status = _status(rollout)
    phase = str(status.get("phase") or "Unknown (Ferry has not written a status yet)")
    message = status.get("message")
    return f"{phase} ({message})" if message else phase


def progress_line(rollout: Obj) -> str:
    """One line for ``status``: phase, step, weight and what is happening."""
    status = _status(rollout)
    line = (
        f"{rollout['metadata']['name']}: {status.get('phase') or 'Unknown'}, step "
        f"{step_text(rollout)}, canary weight {weight_text(rollout)}"
    )
    return f"{line}: {status['message']}" if status.get("message") else line


def _last_measurement(metric: Obj) -> str:
    """A metric of the tree's (``trees``): its last measurement in words."""
    last = metric.get("last") or {}
    if not last:
        return "no measurement yet"
    parts = [str(last.get("phase") or "?")]
    if last.get("value") not in (None, ""):
        parts.append(f"value {last['value']}")
    when = last.get("finishedAt") or last.get("startedAt")
    if when:
        parts.append(f"at {when}")
    if last.get("message"):
        parts.append(f"({last['message']})")
    return "last: " + " ".join(parts)


def _analysis_lines(rollout: Obj, tree: Obj) -> list[str]:
    """The Rollout's analyses (``status.analysis``, else its last three AnalysisRuns), each
    with its metrics as the tree read them; that they could not be listed is among the tree's
    warnings."""
    mirrored = {
        str(a.get("name")): a for a in _status(rollout).get("analysis") or [] if isinstance(a, dict)
    }
    runs = sorted(
        (run for node in tree["revisions"] for run in node["analysisRuns"]),
        key=lambda r: str(r.get("createdAt") or ""),
    )
    by_name = {str(r["name"]): r for r in runs}
    names = list(mirrored) or [str(r["name"]) for r in runs[-3:]]
    lines: list[str] = []
    for name in names:
        run = by_name.get(name) or {}
        mirror = mirrored.get(name) or {}
        phase = run.get("status") or mirror.get("phase") or "Pending"
        kind = f" ({mirror['kind']})" if mirror.get("kind") else ""
        message = run.get("message") or mirror.get("message")
        lines.append(f"  {name}{kind}  {phase}" + (f": {message}" if message else ""))
        for metric in run.get("metrics") or []:
            lines.append(f"    {metric['name']}  {metric['status']}  {_last_measurement(metric)}")
    return lines or ["  none"]


def history_entries(rollout: Obj) -> list[Obj]:
    return [h for h in _status(rollout).get("history") or [] if isinstance(h, dict)]


def _history_line(entry: Obj) -> str:
    return f"{entry.get('time') or '?'}  {entry.get('note') or ''}".rstrip()


def rollout_view(
    rollout: Obj, tree: Obj, now: datetime, *, icons: drawing.Icons = drawing.UNICODE
) -> str:
    """The live view of one rollout (``get rollout``): its status, images and replicas, steps,
    analyses and history, then Argo Rollouts' tree (``tree``, ``trees.build``) of revisions,
    ReplicaSets, Pods and AnalysisRuns, marked with ``icons``."""
    meta = rollout["metadata"]
    status = _status(rollout)
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    blue_green = _blue_green_rows(rollout)
    rows = [
        ("Name", str(meta["name"])),
        ("Namespace", str(meta.get("namespace") or "")),
        ("Phase", phase_text(rollout)),
        ("Stable", str(status.get("stableRevision") or "-")),
        ("Canary", str(status.get("canaryRevision") or "-")),
        *(blue_green or [("Strategy", "Canary")]),
        ("Step", step_text(rollout)),
        ("Weight", weight_text(rollout)),
        ("Age", age(meta.get("creationTimestamp"), now)),
    ]
    if status.get("restartedAt"):
        rows.append(("Restarted", str(status["restartedAt"])))
    if isinstance(generation, int) and observed != generation:
        rows.append(("Generation", f"{generation} (Ferry has seen {observed or 'none yet'})"))
    load = load_text(rollout)
    if load is not None:
        rows.append(("Load", load))
    lines = [f"{label + ':':<12}{value}" for label, value in rows]
    lines += _replica_lines(tree)
    steps = _steps(rollout)
    lines.append("Steps:" if steps else "Steps:      none")
    marks = dict(zip((DONE, CURRENT, FAILED), icons.steps, strict=True))
    for i, (marker, step) in enumerate(zip(step_markers(rollout), steps, strict=True)):
        lines.append(f"  {marks.get(marker, marker)} {i + 1:>2}. {describe_step(step)}")
    pauses = [p for p in status.get("pauseConditions") or [] if isinstance(p, dict)]
    if pauses:
        lines.append("Paused:")
        for p in pauses:
            said = f" ({p['message']})" if p.get("message") else ""
            lines.append(f"  {p.get('reason')} since {p.get('startTime')}{said}")
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    if conditions:
        lines.append("Conditions:")
        for c in conditions:
            reason = f" ({c['reason']})" if c.get("reason") else ""
            lines.append(f"  {c.get('type')}={c.get('status')}{reason}")
    lines.append("Analysis:")
    lines += _analysis_lines(rollout, tree)
    history = history_entries(rollout)[-HISTORY_SHOWN:]
    lines.append(f"History (last {HISTORY_SHOWN}):" if history else "History:    none yet")
    lines += [f"  {_history_line(h)}" for h in history]
    lines += ["", drawing.render(tree, now, icons, age)]
    lines += [f"({warning})" for warning in tree["warnings"]]
    return "\n".join(lines)


def _replica_lines(tree: Obj) -> list[str]:
    """Argo's Images and Replicas: every image running (stable, canary...) and the replicas of
    the Deployments that run the rollout's revisions."""
    images = drawing.image_lines(tree) or ["-"]
    lines = [f"{'Images:':<12}{images[0]}", *(f"{'':<12}{image}" for image in images[1:])]
    replicas = tree["summary"]["replicas"]
    lines.append("Replicas:")
    for key in ("desired", "current", "updated", "ready", "available"):
        lines.append(f"  {key.capitalize() + ':':<11}{replicas[key]}")
    return lines


def _blue_green_rows(rollout: Obj) -> list[tuple[str, str]]:
    """Blue/green: which revision each of its Services reaches."""
    shown = _status(rollout).get("blueGreen")
    blue_green = ((rollout.get("spec") or {}).get("strategy") or {}).get(models.BLUE_GREEN)
    if not isinstance(shown, dict) or not isinstance(blue_green, dict):
        return []
    active = models.apex_name(rollout) or "?"
    preview = blue_green.get("previewService") or f"{active}-preview"
    return [
        ("Strategy", "blueGreen"),
        ("Active", f"{shown.get('activeRevision') or '-'} (Service {active})"),
        ("Preview", f"{shown.get('previewRevision') or '-'} (Service {preview})"),
    ]


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


ROLLOUTS_HEADER = ["NAME", "PHASE", "STEP", "WEIGHT", "STABLE", "CANARY", "AGE"]
"""``list rollouts``' columns (NAMESPACE first with -A)."""


def rollout_row(obj: Obj, now: datetime, *, all_namespaces: bool = False) -> list[str]:
    """One rollout's cells under :data:`ROLLOUTS_HEADER`."""
    status = _status(obj)
    row = [
        str(obj["metadata"]["name"]),
        str(status.get("phase") or "Unknown"),
        step_text(obj),
        weight_text(obj),
        str(status.get("stableRevision") or "-"),
        str(status.get("canaryRevision") or "-"),
        age(obj["metadata"].get("creationTimestamp"), now),
    ]
    return [str(obj["metadata"].get("namespace") or ""), *row] if all_namespaces else row


def rollouts_header(*, all_namespaces: bool = False) -> list[str]:
    return ["NAMESPACE", *ROLLOUTS_HEADER] if all_namespaces else list(ROLLOUTS_HEADER)


def rollouts_table(rollouts: list[Obj], now: datetime, *, all_namespaces: bool = False) -> str:
    """``list rollouts``: NAME (NAMESPACE first with -A), PHASE, STEP, WEIGHT, STABLE, CANARY,
    AGE."""
    ordered = sorted(
        rollouts, key=lambda r: (r["metadata"].get("namespace", ""), r["metadata"]["name"])
    )
    rows = [rollout_row(obj, now, all_namespaces=all_namespaces) for obj in ordered]
    return _table(rollouts_header(all_namespaces=all_namespaces), rows)


def aligned(cells: list[str], widths: list[int]) -> str:
    """One row of a table whose column widths were fixed by its first print (``list -w``)."""
    return "   ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


def _event_time(event: Obj) -> Any:
    return (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or (event.get("metadata") or {}).get("creationTimestamp")
    )


def timeline(rollout: Obj, events: list[Obj]) -> str:
    """``history``: Ferry's history entries and the Rollout's Events, in time order."""
    rows: list[tuple[datetime, list[str]]] = []
    epoch = datetime.fromtimestamp(0, UTC)
    for entry in history_entries(rollout):
        who = f" [{entry['user']}]" if entry.get("user") else ""
        rows.append(
            (
                parse_time(entry.get("time")) or epoch,
                [str(entry.get("time") or "?"), "ferry", f"{entry.get('note') or ''}{who}"],
            )
        )
    for event in events:
        count = _int(event.get("count"), 1)
        times = f" (x{count})" if count > 1 else ""
        text = f"{event.get('type') or 'Normal'} {event.get('reason') or ''}: "
        rows.append(
            (
                parse_time(_event_time(event)) or epoch,
                [
                    str(_event_time(event) or "?"),
                    "event",
                    f"{text}{event.get('message') or ''}{times}",
                ],
            )
        )
    if not rows:
        return ""
    rows.sort(key=lambda row: row[0])  # stable: history before events at the same second
    return _table(["TIME", "SOURCE", "WHAT"], [cells for _, cells in rows])
