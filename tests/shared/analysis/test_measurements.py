"""One measurement (``shared.analysis.measurements``): a measured value judged and written.

Covered: thresholdRange bounds; every success/failure condition rule (Argo's ``EvaluateResult``);
an evaluation error is an Error measurement; no data under each ``noDataPolicy``; values written
as Argo writes them; ``measure`` assesses and renders; ``redacted`` masks secrets in the value,
message and metadata and makes the message one bounded line.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import quote

import pytest

from shared.analysis import measurements, redaction
from shared.analysis.measurements import Measurement
from shared.analysis.model import MeasurementPhase as M
from tests.shared.analysis import leaks
from tests.shared.analysis.conftest import INC, E, F, S, parsed


@pytest.mark.parametrize(
    ("bounds", "value", "phase"),
    [
        ({"min": 0.95}, 0.95, S),
        ({"min": 0.95}, 0.9, F),
        ({"max": 500}, 500, S),
        ({"max": 500}, 501.5, F),
        ({"min": 1, "max": 2}, [1, 1.5, 2], S),
        ({"min": 1, "max": 2}, [1.5, 2.5], F),
        ({"min": 1, "max": 2}, "1.5", S),
        ({"min": 1}, "fast", E),
        ({"min": 1}, {"a": 1}, E),
        ({"max": 1}, [0.5, math.nan], F),
    ],
)
def test_threshold_range(bounds: dict[str, float], value: Any, phase: M) -> None:
    assert measurements.assess(parsed(thresholdRange=bounds), value)[0] == phase


CONDITIONS = [
    # (successCondition, failureCondition, result, phase): Argo's EvaluateResult
    ("result > 1", None, 2, S),
    ("result > 1", None, 0, F),
    (None, "result > 1", 2, F),
    (None, "result > 1", 0, S),
    ("result > 1", "result > 5", 2, S),
    ("result > 1", "result > 5", 9, F),  # failure wins when both are true
    ("result > 1", "result < 0", 0.5, INC),  # neither is true
    (None, None, 42, S),  # no condition: Successful
]


@pytest.mark.parametrize(("success", "failure", "value", "phase"), CONDITIONS)
def test_conditions(success: str | None, failure: str | None, value: Any, phase: M) -> None:
    fields: dict[str, Any] = {}
    if success:
        fields["successCondition"] = success
    if failure:
        fields["failureCondition"] = failure
    got, reason = measurements.assess(parsed(**fields), value)
    assert got == phase
    assert (reason == "") == (phase == S)


def test_an_evaluation_error_is_an_error_measurement() -> None:
    phase, reason = measurements.assess(parsed(successCondition="result[3] > 1"), [1.0])
    assert phase == E and reason.startswith("successCondition: cannot evaluate condition")
    phase, _ = measurements.assess(parsed(failureCondition="result > 1"), "text")
    assert phase == E


@pytest.mark.parametrize("value", [None, [], math.nan, [math.nan]])
@pytest.mark.parametrize("policy", ["Inconclusive", "Failed", "Error", None])
def test_no_data_follows_the_policy(value: Any, policy: str | None) -> None:
    fields: dict[str, Any] = {"successCondition": "result[0] > 1"}
    if policy:
        fields["noDataPolicy"] = policy
    assert measurements.assess(parsed(**fields), value) == (M(policy or "Inconclusive"), "no data")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.99, "0.99"),
        ([0.99, 0.98], "[0.99,0.98]"),
        (2.0, "2"),
        (7, "7"),
        (1e-7, "0.0000001"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (True, "true"),
        ("ok", "ok"),
        ({"p99": 120, "ok": True}, '{"p99":120,"ok":true}'),
        (["a", 1], '["a",1]'),
        (None, ""),
    ],
)
def test_values_are_written_as_argo_writes_them(value: Any, text: str) -> None:
    assert measurements.format_value(value) == text


def test_measure_assesses_and_renders() -> None:
    m = parsed(successCondition="result[0] >= 0.95")
    got = measurements.measure(m, [0.9], started_at=100.0, finished_at=101.0, message="1 series")
    assert got == Measurement(
        F, 100.0, 101.0, "[0.9]", "successCondition 'result[0] >= 0.95' is false; 1 series"
    )
    assert measurements.measure(m, None, started_at=1, finished_at=2).value is None


def test_redacted_masks_secrets_everywhere_and_bounds_the_message() -> None:
    secret = "Tq9-zK4v/Wm2+Lx7"
    body = f"<h1>404</h1>\n<p>No route for /check?token={quote(secret)}</p>\n" + "padding " * 200
    raw = Measurement(
        E,
        started_at=0.0,
        finished_at=1.0,
        value=json.dumps({"echo": {"url": f"/check?token={quote(secret)}", "x-token": secret}}),
        message=f"GET http://svc/check answered HTTP 404 Not Found: {body}",
        metadata={"job": f"check-{secret}"},
    )

    kept = measurements.redacted(raw, redaction.Redactor([secret]))

    assert [leaks.shown(secret, text) for text in (kept.value or "", kept.message)] == [[], []]
    assert leaks.shown(secret, json.dumps(kept.metadata)) == []
    assert kept.message.startswith(
        "GET http://svc/check answered HTTP 404 Not Found: <h1>404</h1> <p>No route for "
        f"/check?token={redaction.MASK}</p> padding padding"
    )
    assert len(kept.message) == redaction.LINE and kept.message.endswith("…")
    assert (kept.phase, kept.started_at, kept.finished_at) == (raw.phase, 0.0, 1.0)
