"""The analysis model: the kinds Ferry reads, the phases of metrics, runs and measurements, and
the frozen dataclasses that :mod:`.validation` builds from a spec.

``AnalysisTemplate``, ``ClusterAnalysisTemplate`` and ``AnalysisRun`` keep Argo Rollouts' field
names and semantics, plus Flagger's ``thresholdRange`` and Ferry's ``noDataPolicy``. Plain
values only: no parsing, no decisions, no I/O. Everything else in the package builds on this
module, so it imports nothing from it but the condition language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.analysis import expressions

TEMPLATE_KIND = "AnalysisTemplate"
CLUSTER_TEMPLATE_KIND = "ClusterAnalysisTemplate"
RUN_KIND = "AnalysisRun"
TEMPLATE_PLURAL = "analysistemplates"
CLUSTER_TEMPLATE_PLURAL = "clusteranalysistemplates"
RUN_PLURAL = "analysisruns"

DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
"""Argo's default: the fifth error in a row ends the metric as Error."""
DEFAULT_MEASUREMENT_RETENTION = 10
"""Argo's default: measurements kept per metric in the status."""


class AnalysisPhase(StrEnum):
    """The phase of a metric or of a whole AnalysisRun."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    ERROR = "Error"
    INCONCLUSIVE = "Inconclusive"

    @property
    def completed(self) -> bool:
        return self not in (AnalysisPhase.PENDING, AnalysisPhase.RUNNING)


class MeasurementPhase(StrEnum):
    """The phase of one measurement. ``Running`` only for one still in flight (a Job)."""

    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"


@dataclass(frozen=True)
class Condition:
    """A success or failure condition: its text and the compiled, safe expression."""

    text: str
    expression: expressions.Expression = field(compare=False)


@dataclass(frozen=True)
class ThresholdRange:
    """Flagger's bounds, both inclusive; a missing bound is open."""

    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Metric:
    """One metric, with its arguments substituted and its defaults applied."""

    name: str
    provider: str
    """``prometheus``, ``web`` or ``job``."""
    config: Mapping[str, Any]
    """The provider's block, e.g. ``{"address": ..., "query": ...}``."""
    interval: float | None = None
    initial_delay: float = 0.0
    count: int | None = 1
    """Measurements (Errors excluded) that complete the metric; None: until the run ends."""
    success: Condition | None = None
    failure: Condition | None = None
    threshold: ThresholdRange | None = None
    failure_limit: int = 0
    inconclusive_limit: int = 0
    consecutive_error_limit: int = DEFAULT_CONSECUTIVE_ERROR_LIMIT
    no_data: MeasurementPhase = MeasurementPhase.INCONCLUSIVE
    """What a measurement without data counts as (``noDataPolicy``)."""
    dry_run: bool = False
    """Set by the spec's ``dryRun`` rules: measured and reported, never decides the run."""
    retention: int = DEFAULT_MEASUREMENT_RETENTION
    """Measurements kept in the status (the spec's ``measurementRetention``)."""


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str


@dataclass(frozen=True)
class Arg:
    """An argument: a value, a Secret's key, or a field of the object analysed (``fieldRef``).
    All three None: required, the caller must give it."""

    name: str
    value: str | None = None
    secret: SecretRef | None = None
    field_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The Argo form, as stored in an AnalysisRun's ``spec.args``."""
        out: dict[str, Any] = {"name": self.name}
        if self.value is not None:
            out["value"] = self.value
        elif self.secret is not None:
            out["valueFrom"] = {"secretKeyRef": {"name": self.secret.name, "key": self.secret.key}}
        elif self.field_path is not None:
            out["valueFrom"] = {"fieldRef": {"fieldPath": self.field_path}}
        return out


@dataclass(frozen=True)
class Retention:
    metric_name: str
    """A regular expression searched in metric names (Argo's rule)."""
    limit: int


@dataclass(frozen=True)
class Template:
    """An AnalysisTemplate's (or ClusterAnalysisTemplate's, or AnalysisRun's) spec.

    ``metric_specs`` are the metrics as written, arguments not substituted:
    :func:`.validation.metrics` turns them into :class:`Metric` objects for given argument values.
    """

    name: str
    args: tuple[Arg, ...]
    metric_specs: tuple[Mapping[str, Any], ...]
    dry_run: tuple[str, ...] = ()
    """Regular expressions searched in metric names (Argo's ``dryRun[].metricName``)."""
    retention: tuple[Retention, ...] = ()


@dataclass(frozen=True)
class RunSpec:
    """An AnalysisRun's spec."""

    template: Template
    terminate: bool = False
