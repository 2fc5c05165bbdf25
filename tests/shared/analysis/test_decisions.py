"""Decisions (``shared.analysis.decisions``): a metric's phase, a run's phase, the run's status.

Covered: failure, inconclusive and consecutive-error limits (a later limit wins, as in Argo);
count with Errors excluded; in-flight measurements and termination; when the next measurement is
due; a run's early end on a failing metric, the worst phase, dry runs never deciding, termination
and Argo's messages; the AnalysisRun status shape with measurement retention and summaries;
measurements round-tripping through the status.
"""

from __future__ import annotations

import json

from shared.analysis import decisions, measurements, model, validation
from shared.analysis.measurements import Measurement
from shared.analysis.model import AnalysisPhase as A
from shared.analysis.model import MeasurementPhase as M
from tests.shared.analysis.conftest import INC, E, F, S, metric, parsed, series, template

# -- a metric's phase ---------------------------------------------------------------------


def test_failed_when_failures_pass_the_limit() -> None:
    m = parsed(interval="1m", count=5, failureLimit=1)
    assert decisions.metric_phase(m, series(F, S)) is None
    assert decisions.metric_phase(m, series(F, S, F)) == A.FAILED


def test_inconclusive_when_inconclusives_pass_the_limit() -> None:
    m = parsed(interval="1m", count=5, inconclusiveLimit=1)
    assert decisions.metric_phase(m, series(INC)) is None
    assert decisions.metric_phase(m, series(INC, S, INC)) == A.INCONCLUSIVE


def test_error_after_more_consecutive_errors_than_the_limit() -> None:
    m = parsed(interval="1m", count=10)
    assert decisions.metric_phase(m, series(E, E, E, E)) is None
    assert decisions.metric_phase(m, series(E, E, E, S, E, E, E, E)) is None, "a success resets"
    assert decisions.metric_phase(m, series(E, E, E, E, E)) == A.ERROR
    assert decisions.metric_phase(parsed(consecutiveErrorLimit=0), series(E)) == A.ERROR


def test_errors_do_not_count_towards_count() -> None:
    m = parsed(interval="1m", count=2)
    assert decisions.metric_phase(m, series(S, E)) is None
    assert decisions.metric_phase(m, series(S, E, S)) == A.SUCCESSFUL
    assert decisions.metric_phase(parsed(), series(E)) is None, "count 1: an Error is retried"


def test_count_reached_with_tolerated_failures_is_successful() -> None:
    m = parsed(interval="1m", count=3, failureLimit=1, inconclusiveLimit=1)
    assert decisions.metric_phase(m, series(F, INC, S)) == A.SUCCESSFUL


def test_a_later_limit_wins_as_in_argo() -> None:
    m = parsed(consecutiveErrorLimit=0)
    assert decisions.metric_phase(m, series(F, E)) == A.ERROR


def test_in_flight_and_termination() -> None:
    flying = Measurement(M.RUNNING, started_at=0.0)
    m = parsed(interval="1m")
    assert decisions.metric_phase(m, []) is None
    assert decisions.metric_phase(m, [], terminating=True) == A.SUCCESSFUL
    assert decisions.metric_phase(m, [*series(S), flying], terminating=True) is None
    assert decisions.metric_phase(m, series(S, S, S)) is None, "no count: runs until the end"
    assert decisions.metric_phase(m, series(S, S, S), terminating=True) == A.SUCCESSFUL
    assert decisions.metric_phase(m, series(F), terminating=True) == A.FAILED


def test_next_measurement_times() -> None:
    m = parsed(interval="30s", count=3, initialDelay="1m")
    assert decisions.next_measurement_at(m, [], started_at=1000.0) == 1060.0
    first = [Measurement(S, 1060.0, 1061.0)]
    assert decisions.next_measurement_at(m, first, 1000.0) == 1091.0, "interval after finish"
    errored = [*first, Measurement(E, 1091.0, 1092.0)]
    assert decisions.next_measurement_at(m, errored, 1000.0) == 1102.0, "errors retry in 10s"
    assert decisions.next_measurement_at(m, first, 1000.0, terminating=True) is None
    flying = [*first, Measurement(M.RUNNING, 1091.0, resume_at=1096.0)]
    assert decisions.next_measurement_at(m, flying, 1000.0) == 1096.0
    assert decisions.next_measurement_at(m, [*first, Measurement(M.RUNNING, 1091.0)], 1000) is None
    full = [Measurement(S, t, t + 1) for t in (1060.0, 1091.0, 1122.0)]
    assert decisions.next_measurement_at(m, full, 1000.0) is None, "count reached"
    failed = [Measurement(F, 1060.0, 1061.0)]
    assert decisions.next_measurement_at(m, failed, 1000.0) is None, "metric Failed"
    assert decisions.next_measurement_at(parsed(), [Measurement(E, 0.0, 5.0)], 0.0) == 15.0


# -- a run's phase ------------------------------------------------------------------------


def metrics(*names: str, dry: tuple[str, ...] = ()) -> tuple[model.Metric, ...]:
    spec = template(*(metric(n) for n in names), dryRun=[{"metricName": f"^{d}$"} for d in dry])
    if not dry:
        del spec["spec"]["dryRun"]
    return validation.metrics(validation.parse_template(spec))


def test_a_failing_metric_ends_the_run_at_once() -> None:
    ms = metrics("a", "b")
    assert decisions.run_phase(ms, {"a": A.FAILED, "b": None}) == A.FAILED
    assert decisions.run_phase(ms, {"a": A.ERROR, "b": None}) == A.ERROR
    assert decisions.run_phase(ms, {"a": A.INCONCLUSIVE, "b": A.SUCCESSFUL}) == A.INCONCLUSIVE
    assert decisions.run_phase(ms, {"a": A.SUCCESSFUL, "b": None}) is None


def test_the_worst_phase_decides() -> None:
    ms = metrics("a", "b", "c")
    assert decisions.run_phase(ms, {"a": A.ERROR, "b": A.FAILED, "c": A.INCONCLUSIVE}) == A.FAILED
    assert decisions.run_phase(ms, {"a": A.ERROR, "b": A.SUCCESSFUL, "c": A.INCONCLUSIVE}) == (
        A.ERROR
    )
    assert decisions.run_phase(ms, dict.fromkeys("abc", A.SUCCESSFUL)) == A.SUCCESSFUL


def test_dry_run_metrics_never_decide() -> None:
    ms = metrics("a", "b", dry=("b",))
    assert decisions.run_phase(ms, {"a": None, "b": A.FAILED}) is None
    assert decisions.run_phase(ms, {"a": A.SUCCESSFUL, "b": A.FAILED}) == A.SUCCESSFUL
    only_dry = metrics("b", dry=("b",))
    assert decisions.run_phase(only_dry, {"b": A.ERROR}) == A.SUCCESSFUL
    assert decisions.terminating(ms, {"a": None, "b": A.FAILED}) is False


def test_termination_ends_with_what_was_reached() -> None:
    ms = metrics("a", "b")
    assert decisions.run_phase(ms, {}, terminate=True) == A.SUCCESSFUL
    assert decisions.run_phase(ms, {"a": A.SUCCESSFUL, "b": None}, terminate=True) == A.SUCCESSFUL
    assert decisions.run_phase(ms, {"a": A.INCONCLUSIVE}, terminate=True) == A.INCONCLUSIVE


def test_evaluate_run_gives_argo_messages() -> None:
    ms = validation.metrics(
        validation.parse_template(
            template(metric("rate", interval="1m"), metric("errors", interval="1m"))
        )
    )
    failed = [Measurement(F, 0.0, 1.0, "[0.2]", "successCondition is false")]
    result = decisions.evaluate_run(ms, {"rate": failed, "errors": series(S)})
    assert result.phase == A.FAILED and result.terminating
    assert result.message == (
        'Metric "rate" assessed Failed due to failed (1) > failureLimit (0): '
        '"Error Message: successCondition is false"'
    )
    assert result.metric_phases == {"rate": A.FAILED, "errors": A.SUCCESSFUL}
    running = decisions.evaluate_run(ms, {"rate": series(S)})
    assert (running.phase, running.message, running.terminating) == (None, "", False)
    stopped = decisions.evaluate_run(ms, {"rate": series(S)}, terminate=True)
    assert (stopped.phase, stopped.message) == (A.SUCCESSFUL, "Run Terminated")


# -- the status ---------------------------------------------------------------------------


def test_run_status_has_argo_shape_and_retention() -> None:
    ms = validation.metrics(
        validation.parse_template(
            template(
                metric("rate", interval="1m"),
                metric("budget", interval="1m", failureLimit=1),
                metric("later", interval="1m"),
                dryRun=[{"metricName": "budget"}],
                measurementRetention=[{"metricName": "budget", "limit": 2}],
            )
        )
    )
    t0 = 1_750_000_000.0
    rate = [Measurement(S, t0 + i, t0 + i + 1, str(i)) for i in range(12)]
    budget = [Measurement(F, t0, t0 + 1, "1", "too high"), *series(S, F)]
    status = decisions.run_status(ms, {"rate": rate, "budget": budget}, None, "", started_at=t0)
    assert status["phase"] == "Running" and status["startedAt"] == "2025-06-15T15:06:40Z"
    assert "message" not in status
    rate_result, budget_result = status["metricResults"]
    assert [m["value"] for m in rate_result["measurements"]] == [str(i) for i in range(2, 12)]
    assert rate_result["measurements"][0] == {
        "phase": "Successful",
        "startedAt": "2025-06-15T15:06:42Z",
        "finishedAt": "2025-06-15T15:06:43Z",
        "value": "2",
    }
    assert {k: v for k, v in rate_result.items() if k != "measurements"} == {
        "name": "rate",
        "phase": "Running",
        "count": 12,
        "successful": 12,
        "failed": 0,
        "inconclusive": 0,
        "error": 0,
        "consecutiveError": 0,
        "dryRun": False,
    }
    assert len(budget_result["measurements"]) == 2
    assert (budget_result["phase"], budget_result["dryRun"]) == ("Failed", True)
    assert budget_result["message"] == "Metric assessed Failed due to failed (2) > failureLimit (1)"
    assert status["runSummary"] == {
        "count": 2,
        "successful": 0,
        "failed": 0,
        "inconclusive": 0,
        "error": 0,
    }
    assert status["dryRunSummary"] == {
        "count": 1,
        "successful": 0,
        "failed": 1,
        "inconclusive": 0,
        "error": 0,
    }
    json.dumps(status)  # plain JSON


def test_a_finished_run_reports_unfinished_metrics_as_successful() -> None:
    ms = metrics("a", "b")
    errors = [Measurement(E, 0.0, 1.0, None, "connection refused")]
    status = decisions.run_status(ms, {"a": series(S), "b": errors}, A.SUCCESSFUL, "Run Terminated")
    assert [r["phase"] for r in status["metricResults"]] == ["Successful", "Successful"]
    assert status["metricResults"][1]["message"] == "connection refused"
    assert status["runSummary"]["successful"] == 2
    assert (status["phase"], status["message"]) == ("Successful", "Run Terminated")


def test_measurements_round_trip_through_the_status() -> None:
    m = Measurement(M.RUNNING, 1_750_000_000.0, None, None, "", 1_750_000_030.0, {"job": "j-1"})
    assert measurements.Measurement.from_dict(m.to_dict()) == m
    d = Measurement(F, 1.0, 2.0, "0.5", "below").to_dict()
    assert measurements.Measurement.from_dict(d) == Measurement(F, 1.0, 2.0, "0.5", "below")
