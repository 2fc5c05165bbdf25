"""ingress-nginx's Prometheus metrics, from the local nginx's access log.

``nginx_ingress_controller_requests`` (a counter),
``nginx_ingress_controller_request_duration_seconds`` (the whole request) and
``nginx_ingress_controller_response_duration_seconds`` (the upstream's answer: Flagger's NGINX
latency query reads it) — histograms with ingress-nginx's buckets —
labelled as ingress-nginx labels them: ``namespace``, ``ingress`` and ``service`` of the main
Ingress (a canary Ingress's name never appears: a request routed to it has ``canary`` set to the
canary's upstream, ``<namespace>-<service>-<port>``, else ``""``), ``path`` (the Ingress path),
``host``, ``method``, ``status``, and the controller's own labels. So the queries of Flagger's
and Argo Rollouts' NGINX guides work unchanged against it.

The log is read at each scrape (the lines written since the last one), so the numbers are
current to the request and nothing runs between scrapes. Reads the log; writes nothing.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LABELS = (
    "canary",
    "controller_class",
    "controller_namespace",
    "controller_pod",
    "host",
    "ingress",
    "method",
    "namespace",
    "path",
    "service",
    "status",
)
CONTROLLER = {
    "controller_class": "k8s.io/ingress-nginx",
    "controller_namespace": "ingress-nginx",
    "controller_pod": "ferry-ingress",
}
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""ingress-nginx's request-duration buckets (Prometheus' defaults)."""
REQUESTS = "nginx_ingress_controller_requests"
HISTOGRAMS = {
    "nginx_ingress_controller_request_duration_seconds": "The request processing time in seconds",
    "nginx_ingress_controller_response_duration_seconds": (
        "The time spent on receiving the response from the upstream server"
    ),
}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Key = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(key: Key, extra: Mapping[str, str] | None = None) -> str:
    pairs = list(zip(LABELS, key, strict=True)) + list((extra or {}).items())
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in pairs) + "}"


class AccessLogMetrics:
    """The access log's requests, counted; :meth:`render` is the text a scrape gets.

    Written by hand rather than with ``prometheus_client``: ingress-nginx's counter is named
    without the ``_total`` suffix that library adds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self._lock = threading.Lock()
        self._requests: dict[Key, int] = {}
        self._buckets: dict[str, dict[Key, list[int]]] = {name: {} for name in HISTOGRAMS}
        self._sums: dict[str, dict[Key, float]] = {name: {} for name in HISTOGRAMS}
        self.malformed = 0

    def drain(self) -> None:
        """Count the lines written since the last call."""
        with self._lock:
            try:
                with self.path.open("rb") as log:
                    log.seek(self._offset)
                    chunk = log.read()
            except FileNotFoundError:
                return
            self._offset += len(chunk)
            lines = (self._partial + chunk).split(b"\n")
            self._partial = lines.pop()
            for line in lines:
                if line.strip():
                    self._count(line)

    def _count(self, line: bytes) -> None:
        try:
            entry: dict[str, Any] = json.loads(line)
            found = {
                **CONTROLLER,
                "canary": str(entry.get("canary", "")),
                "host": str(entry.get("host", "")),
                "ingress": str(entry.get("ingress", "")),
                "method": str(entry.get("method", "")),
                "namespace": str(entry.get("namespace", "")),
                "path": str(entry.get("path", "")),
                "service": str(entry.get("service", "")),
                "status": str(entry.get("status", "")),
            }
            seconds = float(entry.get("request_time", 0.0))
            # "0.004, 0.002" when nginx tried two addresses; "-" when none answered
            tries = str(entry.get("upstream_response_time", "")).replace(":", ",").split(",")
            upstream = sum(float(t) for t in tries if t.strip() not in ("", "-"))
        except (ValueError, TypeError, AttributeError):
            self.malformed += 1
            return
        if not found["ingress"] or not math.isfinite(seconds) or not math.isfinite(upstream):
            return  # no Ingress routed it (an unknown host): ingress-nginx counts none either
        key = tuple(found[name] for name in LABELS)
        self._requests[key] = self._requests.get(key, 0) + 1
        for name, value in zip(HISTOGRAMS, (seconds, upstream), strict=True):
            buckets = self._buckets[name].setdefault(key, [0] * len(BUCKETS))
            for i, bound in enumerate(BUCKETS):
                if value <= bound:
                    buckets[i] += 1
            self._sums[name][key] = self._sums[name].get(key, 0.0) + value

    def render(self) -> str:
        """The metrics in Prometheus' text format (the log read up to now)."""
        self.drain()
        with self._lock:
            lines = [
                f"# HELP {REQUESTS} The number of client requests",
                f"# TYPE {REQUESTS} counter",
            ]
            for key, count in sorted(self._requests.items()):
                lines.append(f"{REQUESTS}{_labels(key)} {count}")
            for name, text in HISTOGRAMS.items():
                lines += [f"# HELP {name} {text}", f"# TYPE {name} histogram"]
                for key, buckets in sorted(self._buckets[name].items()):
                    for bound, count in zip(BUCKETS, buckets, strict=True):
                        lines.append(f"{name}_bucket{_labels(key, {'le': repr(bound)})} {count}")
                    total = self._requests[key]
                    lines.append(f"{name}_bucket{_labels(key, {'le': '+Inf'})} {total}")
                    lines.append(f"{name}_sum{_labels(key)} {self._sums[name][key]!r}")
                    lines.append(f"{name}_count{_labels(key)} {total}")
        return "\n".join(lines) + "\n"
