"""One measurement: how a measured value is judged (:func:`assess`), written into the status
(:func:`format_value`), recorded (:class:`Measurement`, :func:`measure`) and made fit to keep
(:func:`redacted`).

Argo's ``EvaluateResult``, Flagger's ``thresholdRange`` and Ferry's ``noDataPolicy`` decide a
single value here. :func:`redacted` is the one way into a run's record: everything a message,
a run's message or a verdict is made of passes through it first. Pure: the value comes from a
provider through :mod:`.runs`; this module takes no measurement, reads no clock and never
decides a metric or a run (:mod:`.decisions`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.analysis import expressions, fields
from shared.analysis.model import MeasurementPhase, Metric
from shared.analysis.redaction import Redactor
from shared.clock import rfc3339


def format_value(value: Any) -> str:
    """A measured value as Argo writes it into ``measurements[].value``: ``0.99``,
    ``[0.99,0.98]``, ``true``; objects as compact JSON; None as an empty string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return format(Decimal(repr(value)), "f")  # Prometheus prints plain decimals, no 1e-07
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return json.dumps(value, separators=(",", ":"), default=str)


def _no_data(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, list | tuple):
        return all(isinstance(v, float) and math.isnan(v) for v in value)
    return False


def _in_range(metric: Metric, value: Any) -> tuple[MeasurementPhase, str]:
    assert metric.threshold is not None
    low, high = metric.threshold.min, metric.threshold.max
    items = list(value) if isinstance(value, list | tuple) else [value]
    for item in items:
        number = fields.number(item)
        if number is None:
            return MeasurementPhase.ERROR, f"thresholdRange needs numbers, got {item!r}"
        if low is not None and not number >= low:
            return MeasurementPhase.FAILED, f"{format_value(number)} is below min {low:g}"
        if high is not None and not number <= high:
            return MeasurementPhase.FAILED, f"{format_value(number)} is above max {high:g}"
    return MeasurementPhase.SUCCESSFUL, ""


def assess(metric: Metric, value: Any) -> tuple[MeasurementPhase, str]:
    """The phase of one measured ``value`` and why (empty when Successful).

    No data (None, an empty list, NaN) takes the metric's ``noDataPolicy``. With a
    thresholdRange: every number within [min, max] is Successful, else Failed. With conditions
    (Argo's ``EvaluateResult``): failure true is Failed (even if success is true too); success
    true is Successful; only a success condition and it is false: Failed; only a failure
    condition and it is false: Successful; both and neither true: Inconclusive; no condition at
    all: Successful. A condition that cannot be evaluated makes the measurement an Error.
    """
    if _no_data(value):
        return metric.no_data, "no data"
    if metric.threshold is not None:
        return _in_range(metric, value)
    results: dict[str, bool] = {}
    for key, condition in (
        ("successCondition", metric.success),
        ("failureCondition", metric.failure),
    ):
        if condition is None:
            continue
        try:
            results[key] = condition.expression.evaluate_bool(value)
        except expressions.ExpressionError as exc:
            return MeasurementPhase.ERROR, f"{key}: {exc}"
    success, failure = results.get("successCondition"), results.get("failureCondition")
    if failure:
        assert metric.failure is not None
        return MeasurementPhase.FAILED, f"failureCondition {metric.failure.text!r} is true"
    if success:
        return MeasurementPhase.SUCCESSFUL, ""
    if success is False and failure is None:
        assert metric.success is not None
        return MeasurementPhase.FAILED, f"successCondition {metric.success.text!r} is false"
    if success is False:
        return (
            MeasurementPhase.INCONCLUSIVE,
            "neither successCondition nor failureCondition is true",
        )
    return MeasurementPhase.SUCCESSFUL, ""


@dataclass(frozen=True)
class Measurement:
    """One measurement of one metric. Times are epoch seconds; ``value`` is already the string
    :func:`format_value` makes of the measured value."""

    phase: MeasurementPhase
    started_at: float
    finished_at: float | None = None
    """None while in flight (a Job still running)."""
    value: str | None = None
    message: str = ""
    resume_at: float | None = None
    """When an in-flight measurement should be looked at again (None: on its own event)."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    """Provider details, e.g. the name of the Job."""

    @property
    def in_flight(self) -> bool:
        return self.finished_at is None or self.phase == MeasurementPhase.RUNNING

    def to_dict(self) -> dict[str, Any]:
        """The measurement as an AnalysisRun's status shows it (Argo's shape)."""
        out: dict[str, Any] = {"phase": self.phase.value, "startedAt": rfc3339(self.started_at)}
        if self.finished_at is not None:
            out["finishedAt"] = rfc3339(self.finished_at)
        if self.value is not None:
            out["value"] = self.value
        if self.message:
            out["message"] = self.message
        if self.resume_at is not None:
            out["resumeAt"] = rfc3339(self.resume_at)
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Measurement:
        """Back from :meth:`to_dict` (times to the second, as the status keeps them)."""

        def epoch(key: str) -> float | None:
            text = raw.get(key)
            return datetime.fromisoformat(text).timestamp() if isinstance(text, str) else None

        return cls(
            phase=MeasurementPhase(raw["phase"]),
            started_at=epoch("startedAt") or 0.0,
            finished_at=epoch("finishedAt"),
            value=raw.get("value"),
            message=str(raw.get("message") or ""),
            resume_at=epoch("resumeAt"),
            metadata=dict(raw.get("metadata") or {}),
        )


def measure(
    metric: Metric, value: Any, *, started_at: float, finished_at: float, message: str = ""
) -> Measurement:
    """The finished measurement of ``value``: assessed, its value rendered for the status, the
    assessment's reason and the provider's ``message`` together."""
    phase, reason = assess(metric, value)
    text = "; ".join(part for part in (reason, message) if part)
    shown = None if value is None else format_value(value)
    return Measurement(phase, started_at, finished_at, shown, text)


def redacted(measurement: Measurement, redactor: Redactor) -> Measurement:
    """``measurement`` as a run may record and show it: the run's secrets masked in its value,
    message and metadata, and the message one line of at most ``redaction.LINE`` characters.

    A measurement's message holds what its source said (an error body, Prometheus' error and
    warnings, a Job's reason) and text built from the arguments (a URL, a condition); the run's
    message and the verdict are made of these. Every measurement passes here before a run
    records it, so nothing reaches the state, the AnalysisRun, the Rollout or an Event without
    passing through :meth:`Redactor.redact`."""
    return replace(
        measurement,
        value=None if measurement.value is None else redactor.redact(measurement.value),
        message=redactor.excerpt(measurement.message),
        metadata={key: redactor.redact(text) for key, text in measurement.metadata.items()},
    )
