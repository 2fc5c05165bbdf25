"""Helpers of the analysis tests: specs to parse, metrics parsed from them, measurements in a
row. Imported by the test modules (``from tests.shared.analysis.conftest import ...``).
"""

from __future__ import annotations

from typing import Any

import pytest

from shared import models
from shared.analysis import model, validation
from shared.analysis.measurements import Measurement
from shared.analysis.model import MeasurementPhase as M

PROM = {"prometheus": {"address": "http://prometheus:9090", "query": "up"}}


def template(*metrics: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "t", "namespace": "demo"},
        "spec": {"metrics": list(metrics) or [metric()], **spec},
    }


def metric(name: str = "m", **fields: Any) -> dict[str, Any]:
    return {"name": name, "provider": PROM, **fields}


def parsed(**fields: Any) -> model.Metric:
    """One metric parsed from ``fields`` (no arguments)."""
    (only,) = validation.metrics(validation.parse_template(template(metric(**fields))))
    return only


def problems(obj: dict[str, Any]) -> list[str]:
    with pytest.raises(models.InvalidSpec) as info:
        validation.parse_template(obj)
    return info.value.problems


def done(phase: M, at: float = 0.0) -> Measurement:
    return Measurement(phase, started_at=at, finished_at=at + 1)


S, F, INC, E = M.SUCCESSFUL, M.FAILED, M.INCONCLUSIVE, M.ERROR


def series(*phases: M) -> list[Measurement]:
    return [done(p, at=10.0 * i) for i, p in enumerate(phases)]
