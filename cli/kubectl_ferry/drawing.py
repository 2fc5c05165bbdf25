"""The text of ``kubectl ferry get rollout``'s tree (``trees.build``), drawn as Argo Rollouts'
plugin draws it: NAME, KIND, STATUS, AGE, INFO, with Argo's icons (``⟳ # ⧉ □``, alpha, ``✔ ✖ ◌ ◷ ⚠
? ॥ •``) or plain ASCII marks for a terminal that cannot show them. Pure: no I/O, no clock reads
(``now`` is passed in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Obj = dict[str, Any]
Age = Callable[[Any, datetime], str]
"""A timestamp and now -> kubectl's AGE (``views.age``)."""


@dataclass(frozen=True)
class Icons:
    """The marks of the text view: Argo Rollouts' (Unicode), or plain ASCII."""

    rollout: str
    revision: str
    replicaset: str
    pod: str
    analysis: str
    metric: str
    branch: str
    last: str
    pipe: str
    status: dict[str, str]
    steps: tuple[str, str, str]
    """Step markers: done, current, failed."""


UNICODE = Icons(
    rollout="⟳",
    revision="#",
    replicaset="⧉",
    pod="□",
    analysis="\N{GREEK SMALL LETTER ALPHA}",
    metric="∑",
    branch="├──",
    last="└──",
    pipe="│  ",
    status={
        "ok": "✔",
        "bad": "✖",
        "progressing": "◌",
        "waiting": "◷",
        "warning": "⚠",
        "unknown": "?",
        "paused": "॥",
        "neutral": "•",
    },
    steps=("✔", "▶", "✘"),
)
ASCII = Icons(
    rollout="@",
    revision="#",
    replicaset="[]",
    pod="o",
    analysis="a",
    metric="m",
    branch="|--",
    last="`--",
    pipe="|  ",
    status={
        "ok": "+",
        "bad": "x",
        "progressing": "~",
        "waiting": ".",
        "warning": "!",
        "unknown": "?",
        "paused": "=",
        "neutral": "-",
    },
    steps=("+", ">", "x"),
)


def for_output(encoding: str | None, *, ascii_only: bool = False) -> Icons:
    """Argo's icons, unless ASCII is asked for or the output's ``encoding`` cannot encode them."""
    if ascii_only:
        return ASCII
    marks = UNICODE
    glyphs = "".join(
        [
            marks.rollout,
            marks.revision,
            marks.replicaset,
            marks.pod,
            marks.analysis,
            marks.metric,
            marks.branch,
            marks.last,
            marks.pipe,
            *marks.status.values(),
            *marks.steps,
        ]
    )
    try:
        glyphs.encode(encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return ASCII
    return UNICODE


def image_lines(tree: Obj) -> list[str]:
    """``podinfo:2 (canary)``: every image running, with what it is."""
    return [
        f"{i['image']} ({', '.join(i['tags'])})" if i["tags"] else str(i["image"])
        for i in tree["summary"]["images"]
    ]


def render(tree: Obj, now: datetime, icons: Icons, age: Age) -> str:
    """The tree as Argo Rollouts' plugin draws it: NAME KIND STATUS AGE INFO."""
    rows: list[list[str]] = [["NAME", "KIND", "STATUS", "AGE", "INFO"]]

    def mark(icon: str, word: str) -> str:
        return f"{icons.status.get(icon, ' ')} {word}"

    summary, rollout = tree["summary"], tree["rollout"]
    created = (rollout.get("metadata") or {}).get("creationTimestamp")
    rows.append(
        [
            f"{icons.rollout} {summary['name']}",
            "Rollout",
            mark(summary["icon"], summary["status"]),
            age(created, now),
            "",
        ]
    )
    revisions = tree["revisions"]
    for i, node in enumerate(revisions):
        last = i == len(revisions) - 1
        prefix, sub = (icons.last, "   ") if last else (icons.branch, icons.pipe)
        label = f"revision:{node['revision']}" if node["revision"] else "revision:?"
        info = [",".join(node["tags"]), *node["images"]]
        if node["replicaSets"]:
            info.append(f"ready:{node['ready']}/{node['replicas']}")
        shown = "  ".join(i for i in info if i)
        rows.append([f"{prefix}{icons.revision} {label}", "Revision", "", "", shown])
        children = [("rs", rs) for rs in node["replicaSets"]]
        children += [("run", run) for run in node["analysisRuns"]]
        for j, (kind, child) in enumerate(children):
            end = j == len(children) - 1
            child_prefix = sub + (icons.last if end else icons.branch)
            child_sub = sub + ("   " if end else icons.pipe)
            if kind == "rs":
                rows += _rs_rows(child, child_prefix, child_sub, now, icons, age, mark)
            else:
                rows += _run_rows(child, child_prefix, child_sub, now, icons, age, mark)
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _rs_rows(
    rs: Obj,
    prefix: str,
    sub: str,
    now: datetime,
    icons: Icons,
    age: Age,
    mark: Callable[[str, str], str],
) -> list[list[str]]:
    info = [*rs["tags"], f"ready:{rs['ready']}/{rs['replicas']}"]
    if not rs["current"]:
        info.append("old")
    rows = [
        [
            f"{prefix}{icons.replicaset} {rs['name']}",
            "ReplicaSet",
            mark(rs["icon"], rs["status"]),
            age(rs.get("createdAt"), now),
            ",".join(info),
        ]
    ]
    for k, pod in enumerate(rs["pods"]):
        pod_prefix = sub + (icons.last if k == len(rs["pods"]) - 1 else icons.branch)
        details = [f"ready:{pod['ready']}"]
        if pod["restarts"]:
            details.append(f"restarts:{pod['restarts']}")
        rows.append(
            [
                f"{pod_prefix}{icons.pod} {pod['name']}",
                "Pod",
                mark(pod["icon"], pod["status"]),
                age(pod.get("createdAt"), now),
                ",".join(details),
            ]
        )
    return rows


def _counts(icons: Icons, item: Obj) -> str:
    parts = []
    for key, icon in (
        ("successful", "ok"),
        ("failed", "bad"),
        ("inconclusive", "unknown"),
        ("error", "warning"),
    ):
        if item.get(key):
            parts.append(f"{icons.status[icon]} {item[key]}")
    return ",".join(parts)


def _run_rows(
    run: Obj,
    prefix: str,
    sub: str,
    now: datetime,
    icons: Icons,
    age: Age,
    mark: Callable[[str, str], str],
) -> list[list[str]]:
    rows = [
        [
            f"{prefix}{icons.analysis} {run['name']}",
            "AnalysisRun",
            mark(run["icon"], run["status"]),
            age(run.get("createdAt"), now),
            _counts(icons, run),
        ]
    ]
    for k, metric in enumerate(run["metrics"]):
        metric_prefix = sub + (icons.last if k == len(run["metrics"]) - 1 else icons.branch)
        info = _counts(icons, metric)
        value = (metric.get("last") or {}).get("value")
        if value not in (None, ""):
            info = f"{info},last:{value}" if info else f"last:{value}"
        rows.append(
            [
                f"{metric_prefix}{icons.metric} {metric['name']}",
                "Metric",
                mark(metric["icon"], metric["status"]),
                "",
                info,
            ]
        )
    return rows
