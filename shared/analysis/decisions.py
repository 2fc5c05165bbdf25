"""Every decision about metrics and runs, Argo Rollouts' rules: a metric's counters
(:func:`tally`) and phase (:func:`metric_phase`), when its next measurement is due
(:func:`next_measurement_at`), a run's phase (:func:`run_phase`, :func:`evaluate_run`) and an
AnalysisRun's ``.status`` (:func:`run_status`).

Pure functions of the metrics and the measurements taken: no I/O, no clock (times come in as
arguments), no logging. Scheduling, recording and mirroring the decisions is :mod:`.runs`' job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.analysis.measurements import Measurement
from shared.analysis.model import AnalysisPhase, MeasurementPhase, Metric
from shared.clock import rfc3339

ERROR_RETRY_INTERVAL = 10.0
"""Argo's ``DefaultErrorRetryInterval``: seconds to the retry after an Error measurement."""
_SEVERITY = {
    AnalysisPhase.SUCCESSFUL: 0,
    AnalysisPhase.INCONCLUSIVE: 1,
    AnalysisPhase.ERROR: 2,
    AnalysisPhase.FAILED: 3,
}
"""Best to worst, as Argo orders completed phases (``analysisStatusOrder``)."""
_ENDS_RUN = (AnalysisPhase.FAILED, AnalysisPhase.ERROR, AnalysisPhase.INCONCLUSIVE)


@dataclass(frozen=True)
class Tally:
    """Counters of a metric's finished measurements (Argo's MetricResult counters)."""

    count: int = 0
    """Successful + Failed + Inconclusive: Errors do not count towards ``count``."""
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0


def tally(measurements: Sequence[Measurement]) -> Tally:
    """The counters of every finished measurement in ``measurements``."""
    counts = dict.fromkeys(MeasurementPhase, 0)
    streak = 0
    for m in measurements:
        if m.in_flight:
            continue
        counts[m.phase] += 1
        streak = streak + 1 if m.phase == MeasurementPhase.ERROR else 0
    decided = (
        counts[MeasurementPhase.SUCCESSFUL]
        + counts[MeasurementPhase.FAILED]
        + counts[MeasurementPhase.INCONCLUSIVE]
    )
    return Tally(
        count=decided,
        successful=counts[MeasurementPhase.SUCCESSFUL],
        failed=counts[MeasurementPhase.FAILED],
        inconclusive=counts[MeasurementPhase.INCONCLUSIVE],
        error=counts[MeasurementPhase.ERROR],
        consecutive_error=streak,
    )


def _limit(metric: Metric, counts: Tally) -> tuple[AnalysisPhase | None, str]:
    """Argo's ``assessMetricFailureInconclusiveOrError``: each limit is checked in turn and a
    later one wins (Error over Inconclusive over Failed)."""
    phase, reason = None, ""
    if counts.failed > metric.failure_limit:
        phase = AnalysisPhase.FAILED
        reason = f"failed ({counts.failed}) > failureLimit ({metric.failure_limit})"
    if counts.inconclusive > metric.inconclusive_limit:
        phase = AnalysisPhase.INCONCLUSIVE
        reason = (
            f"inconclusive ({counts.inconclusive}) > "
            f"inconclusiveLimit ({metric.inconclusive_limit})"
        )
    if counts.consecutive_error > metric.consecutive_error_limit:
        phase = AnalysisPhase.ERROR
        reason = (
            f"consecutiveErrors ({counts.consecutive_error}) > "
            f"consecutiveErrorLimit ({metric.consecutive_error_limit})"
        )
    return phase, reason


def metric_phase(
    metric: Metric, measurements: Sequence[Measurement], *, terminating: bool = False
) -> AnalysisPhase | None:
    """The metric's final phase, or None while it needs more (or an in-flight) measurement.

    ``measurements`` must be every measurement taken, not only those the status retains. Argo's
    ``assessMetricStatus``: Failed when failed > failureLimit, Inconclusive when inconclusive >
    inconclusiveLimit, Error when consecutive errors > consecutiveErrorLimit, Successful once
    ``count`` measurements (Errors excluded) are done. When the run is ``terminating``, a metric
    without measurements, or one that runs until the end, is Successful.
    """
    if not measurements:
        return AnalysisPhase.SUCCESSFUL if terminating else None
    if measurements[-1].in_flight:
        return None
    counts = tally(measurements)
    phase, _ = _limit(metric, counts)
    if phase is not None:
        return phase
    if metric.count is not None and counts.count >= metric.count:
        return AnalysisPhase.SUCCESSFUL
    return AnalysisPhase.SUCCESSFUL if terminating else None


def next_measurement_at(
    metric: Metric,
    measurements: Sequence[Measurement],
    started_at: float,
    *,
    terminating: bool = False,
) -> float | None:
    """When the metric's next measurement is due (epoch seconds), None when none is.

    The first comes ``initialDelay`` after the run started (``started_at``); the next one
    ``interval`` after the previous one finished, or after an Error the shorter of
    :data:`ERROR_RETRY_INTERVAL` and the interval (Argo retries errors on their own
    schedule). An in-flight measurement is looked at again at its ``resume_at`` (None: its own
    event wakes it). A terminating run takes no new
    measurement.
    """
    if metric_phase(metric, measurements, terminating=terminating) is not None:
        return None
    if not measurements:
        return started_at + metric.initial_delay
    last = measurements[-1]
    if last.in_flight:
        return last.resume_at
    if terminating:
        return None
    assert last.finished_at is not None
    if last.phase == MeasurementPhase.ERROR:
        retry = ERROR_RETRY_INTERVAL
        if metric.interval is not None:
            retry = min(retry, metric.interval)
        return last.finished_at + retry
    if metric.interval is not None:
        return last.finished_at + metric.interval
    return None


def terminating(
    metrics: Sequence[Metric],
    phases: Mapping[str, AnalysisPhase | None],
    *,
    terminate: bool = False,
) -> bool:
    """Argo's ``IsTerminating``: termination was asked for, or a metric that is not a dry run
    ended Failed, Error or Inconclusive, which ends the whole run early."""
    return terminate or any(phases.get(m.name) in _ENDS_RUN for m in metrics if not m.dry_run)


def run_phase(
    metrics: Sequence[Metric],
    phases: Mapping[str, AnalysisPhase | None],
    *,
    terminate: bool = False,
) -> AnalysisPhase | None:
    """The run's final phase from its metrics' phases, or None while it is still running.

    Argo's ``assessRunStatus``: the worst phase of the completed metrics that are not dry runs
    (Failed > Error > Inconclusive > Successful). A terminating run (see :func:`terminating`)
    ends at once with that worst phase (Successful if no metric completed); otherwise the run
    waits until every metric completed. Dry-run metrics never decide: a run of only dry-run
    metrics is Successful once they complete.
    """
    worst: AnalysisPhase | None = None
    complete = True
    for metric in metrics:
        phase = phases.get(metric.name)
        if phase is None or not phase.completed:
            complete = False
            continue
        if metric.dry_run:
            worst = worst or AnalysisPhase.SUCCESSFUL
        elif worst is None or _SEVERITY[phase] > _SEVERITY[worst]:
            worst = phase
    if terminating(metrics, phases, terminate=terminate):
        return worst or AnalysisPhase.SUCCESSFUL
    return worst if complete else None


@dataclass(frozen=True)
class RunResult:
    """Where a run stands: its phase (None: running), why, and each metric's phase."""

    phase: AnalysisPhase | None
    message: str
    metric_phases: Mapping[str, AnalysisPhase | None]
    terminating: bool


def evaluate_run(
    metrics: Sequence[Metric],
    measurements_by_metric: Mapping[str, Sequence[Measurement]],
    *,
    terminate: bool = False,
) -> RunResult:
    """Every metric's phase and the run's, with Argo's message for the deciding metric
    (``Metric "x" assessed Failed due to failed (1) > failureLimit (0)``)."""

    def phases_of(term: bool) -> dict[str, AnalysisPhase | None]:
        return {
            m.name: metric_phase(m, measurements_by_metric.get(m.name, ()), terminating=term)
            for m in metrics
        }

    phases = phases_of(terminate)
    term = terminating(metrics, phases, terminate=terminate)
    if term and not terminate:
        phases = phases_of(True)
    phase = run_phase(metrics, phases, terminate=term)
    message = "Run Terminated" if terminate else ""
    if phase is not None and phase != AnalysisPhase.SUCCESSFUL:
        for metric in metrics:
            if metric.dry_run or phases.get(metric.name) != phase:
                continue
            ms = measurements_by_metric.get(metric.name, ())
            _, reason = _limit(metric, tally(ms))
            message = f'Metric "{metric.name}" assessed {phase.value} due to {reason}'
            last = ms[-1].message if ms else ""
            if last:
                message += f': "Error Message: {last}"'
            break
    return RunResult(phase, message, phases, term)


def _summary(
    metrics: Sequence[Metric], phases: Mapping[str, AnalysisPhase | None]
) -> dict[str, int]:
    out = {"count": len(metrics), "successful": 0, "failed": 0, "inconclusive": 0, "error": 0}
    for metric in metrics:
        phase = phases.get(metric.name)
        if phase is not None and phase.completed:
            out[phase.value.lower()] += 1
    return out


def run_status(
    metrics: Sequence[Metric],
    measurements_by_metric: Mapping[str, Sequence[Measurement]],
    phase: AnalysisPhase | None,
    message: str,
    *,
    started_at: float | None = None,
) -> dict[str, Any]:
    """An AnalysisRun's ``.status`` in Argo's shape: phase (None shows as Running), message,
    startedAt, one metricResults entry per metric that has started (its last ``retention``
    measurements, its counters, its phase) and the run and dry-run summaries."""
    ended = phase is not None and phase.completed
    results: list[dict[str, Any]] = []
    phases: dict[str, AnalysisPhase | None] = {}
    for metric in metrics:
        ms = list(measurements_by_metric.get(metric.name, ()))
        decided = metric_phase(metric, ms, terminating=ended)
        phases[metric.name] = decided
        if not ms:
            continue
        shown = decided or AnalysisPhase.RUNNING
        counts = tally(ms)
        _, reason = _limit(metric, counts)
        note = ms[-1].message
        if metric.dry_run and decided is not None and reason:
            note = f"Metric assessed {decided.value} due to {reason}"
        result: dict[str, Any] = {
            "name": metric.name,
            "phase": shown.value,
            "measurements": [m.to_dict() for m in ms[-metric.retention :]],
            "count": counts.count,
            "successful": counts.successful,
            "failed": counts.failed,
            "inconclusive": counts.inconclusive,
            "error": counts.error,
            "consecutiveError": counts.consecutive_error,
            "dryRun": metric.dry_run,
        }
        if note:
            result["message"] = note
        results.append(result)
    status: dict[str, Any] = {"phase": (phase or AnalysisPhase.RUNNING).value}
    if message:
        status["message"] = message
    if started_at is not None:
        status["startedAt"] = rfc3339(started_at)
    status["metricResults"] = results
    status["runSummary"] = _summary([m for m in metrics if not m.dry_run], phases)
    status["dryRunSummary"] = _summary([m for m in metrics if m.dry_run], phases)
    return status
