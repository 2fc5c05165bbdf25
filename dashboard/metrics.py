"""The Prometheus metrics of every rollout, exposed by the dashboard (a long-lived component).

Read at scrape time, never kept: from the state store, each rollout's phase, step and canary
weight, and what the functions counted (``shared.telemetry``: transitions with their latency,
deliveries by status); from the API, the AnalysisRuns' phases. Argo Rollouts' metric names where
it has them (``rollout_info``, ``rollout_phase``, ``analysis_run_info``,
``analysis_run_metric_phase``); Ferry's own under ``ferry_``. Writes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from shared import models, telemetry
from shared.kube import Kube
from shared.state import PHASES, StateStore

ANALYSIS_PHASES = ("Pending", "Running", "Successful", "Failed", "Error", "Inconclusive")


class RolloutMetrics(Collector):
    def __init__(self, store: StateStore, kube: Kube) -> None:
        self.store, self.kube = store, kube

    def collect(self) -> Iterator[Metric]:
        yield from self._rollouts()
        yield from self._runs()
        yield from self._counted()

    def _rollouts(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "rollout_info",
            "Information about a rollout (1 for each rollout).",
            labels=["namespace", "name", "phase", "strategy"],
        )
        phase = GaugeMetricFamily(
            "rollout_phase",
            "The rollout's phase: 1 for the current one, 0 for the others.",
            labels=["namespace", "name", "phase"],
        )
        weight = GaugeMetricFamily(
            "ferry_rollout_canary_weight",
            "Percent of traffic sent to the canary.",
            labels=["namespace", "name"],
        )
        step = GaugeMetricFamily(
            "ferry_rollout_step", "Index of the current canary step.", labels=["namespace", "name"]
        )
        refs = list(self.store.rollouts())
        phases = sorted(set(PHASES.values()))
        for ref, state in zip(refs, self.store.load_many(refs), strict=True):
            if not state.exists:
                continue
            where = [ref.namespace, ref.name]
            info.add_metric([*where, state.phase, "canary"], 1)
            for each in phases:
                phase.add_metric([*where, each], 1 if each == state.phase else 0)
            weight.add_metric(where, state.weight)
            step.add_metric(where, state.step)
        yield from (info, phase, weight, step)

    def _runs(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "analysis_run_info",
            "Information about an AnalysisRun (1 for each).",
            labels=["namespace", "name", "phase"],
        )
        metric = GaugeMetricFamily(
            "analysis_run_metric_phase",
            "The phase of each metric of an AnalysisRun: 1 for the current one.",
            labels=["namespace", "name", "metric", "type", "phase"],
        )
        for run in self.kube.list_of(models.API_VERSION, "analysisruns"):
            meta, status = run.get("metadata") or {}, run.get("status") or {}
            where = [str(meta.get("namespace", "")), str(meta.get("name", ""))]
            info.add_metric([*where, str(status.get("phase") or "Pending")], 1)
            kinds = {
                m.get("name"): _provider(m) for m in (run.get("spec") or {}).get("metrics") or []
            }
            for result in status.get("metricResults") or []:
                current = str(result.get("phase") or "Pending")
                name = str(result.get("name", ""))
                for each in ANALYSIS_PHASES:
                    metric.add_metric(
                        [*where, name, kinds.get(name, ""), each], 1 if each == current else 0
                    )
        yield from (info, metric)

    def _counted(self) -> Iterator[Metric]:
        transitions = CounterMetricFamily(
            "ferry_transitions",
            "Committed transitions, by function, event type and the stage they led to.",
            labels=["function", "event", "to"],
        )
        deliveries = CounterMetricFamily(
            "ferry_event_deliveries",
            "Event deliveries answered by the functions, by HTTP status.",
            labels=["function", "code"],
        )
        buckets: dict[str, dict[str, float]] = defaultdict(dict)
        sums: dict[str, float] = {}
        counts: dict[str, float] = {}
        for raw, value in self.store.counters().items():
            name, labels = telemetry.parse(raw)
            if name == telemetry.TRANSITIONS:
                transitions.add_metric(
                    [labels.get("function", ""), labels.get("event", ""), labels.get("to", "")],
                    value,
                )
            elif name == telemetry.DELIVERIES:
                deliveries.add_metric([labels.get("function", ""), labels.get("code", "")], value)
            elif name == telemetry.LATENCY + "_bucket":
                buckets[labels.get("function", "")][labels.get("le", "")] = value
            elif name == telemetry.LATENCY + "_sum":
                sums[labels.get("function", "")] = value
            elif name == telemetry.LATENCY + "_count":
                counts[labels.get("function", "")] = value
        latency = HistogramMetricFamily(
            "ferry_transition_duration_seconds",
            "Seconds from an event's time to the commit of the transition it caused.",
            labels=["function"],
        )
        for function, count in sorted(counts.items()):
            found = buckets.get(function, {})
            cumulative = [(str(b), found.get(str(b), 0.0)) for b in telemetry.BUCKETS]
            latency.add_metric(
                [function], [*cumulative, ("+Inf", count)], sum_value=sums.get(function, 0.0)
            )
        yield from (transitions, deliveries, latency)


def _provider(metric: dict[str, Any]) -> str:
    provider = metric.get("provider")
    return next(iter(provider), "") if isinstance(provider, dict) and provider else ""
