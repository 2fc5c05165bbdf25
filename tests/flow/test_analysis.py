"""Canary analysis end to end: real Prometheus, a real HTTP endpoint and simulated Jobs decide
whether a canary is promoted, aborted (traffic back to stable, canary scaled down after the
delay) or paused; and measurement and command events delivered twice or out of order change
nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local import demo
from local.runtime import Runtime
from shared import events, models
from shared.analysis import model, runs
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, JsonEndpoint, eventually, post_to, publish
from tests.prometheus import Metrics, Prometheus, free_port


def template(name: str, metric: dict[str, Any], args: list[dict[str, Any]] | None = None) -> dict:
    return {
        "apiVersion": models.API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {"name": name, "namespace": demo.NAMESPACE},
        "spec": {"args": args or [], "metrics": [metric]},
    }


def error_rate(address: str, **overrides: Any) -> dict[str, Any]:
    metric: dict[str, Any] = {
        "name": "error-rate",
        "interval": "500ms",
        "count": 2,
        "successCondition": "result[0] < 0.05",
        "provider": {
            "prometheus": {
                "address": address,
                "query": 'app_error_ratio{case="{{args.case}}"}',
            }
        },
    }
    metric.update(overrides)
    return metric


def analysis_step(case: str) -> dict[str, Any]:
    return {
        "analysis": {
            "templates": [{"templateName": "error-rate"}],
            "args": [{"name": "case", "value": case}],
        }
    }


def run_status(kube: Kube, name: str) -> dict[str, Any]:
    obj = kube.get(models.API_VERSION, model.RUN_PLURAL, demo.NAMESPACE, name)
    assert obj is not None, f"AnalysisRun {name} not found"
    status: dict[str, Any] = obj.get("status") or {}
    return status


def observed(prometheus: Prometheus, case: str, value: float) -> None:
    """Wait until Prometheus has scraped ``value`` for ``case``."""
    query = f'app_error_ratio{{case="{case}"}}'
    eventually(
        lambda: any(float(r["value"][1]) == value for r in prometheus.query(query)),
        timeout=20,
        what=f"Prometheus sees {case}={value}",
    )


def start_canary(podinfo: Demo, steps: list[dict[str, Any]], **spec: Any) -> str:
    podinfo.create(steps=steps, **spec)
    podinfo.wait(Stage.HEALTHY)
    return podinfo.set_image("podinfo:2")


def test_a_healthy_canary_passes_its_analysis_and_is_promoted(
    podinfo: Demo, metrics: Metrics, prometheus: Prometheus
) -> None:
    metrics.set("app_error_ratio", 0.01, case="healthy")
    observed(prometheus, "healthy", 0.01)
    podinfo.kube.create(template("error-rate", error_rate(prometheus.url), [{"name": "case"}]))
    revision = start_canary(
        podinfo, [{"setWeight": 20}, analysis_step("healthy"), {"setWeight": 50}]
    )
    done = podinfo.wait(Stage.HEALTHY, stable_revision=revision, timeout=30)
    (run,) = runs.runs_of(done).values()
    assert run.phase == model.AnalysisPhase.SUCCESSFUL
    status = run_status(podinfo.kube, run.name)
    assert status["phase"] == "Successful"
    (result,) = status["metricResults"]
    assert result["count"] == 2 and result["successful"] == 2
    assert [m["value"] for m in result["measurements"]] == ["[0.01]", "[0.01]"]
    notes = [e["note"] for e in podinfo.history()]
    assert any("analysis" in n and "running" in n for n in notes)
    assert notes[-1].startswith("promoted")


def test_a_canary_whose_error_rate_jumps_is_aborted(
    podinfo: Demo, metrics: Metrics, prometheus: Prometheus
) -> None:
    metrics.set("app_error_ratio", 0.01, case="jump")
    observed(prometheus, "jump", 0.01)
    podinfo.kube.create(
        template("error-rate", error_rate(prometheus.url, count=20), [{"name": "case"}])
    )
    spec = {
        "strategy": {
            "canary": {
                "steps": [{"setWeight": 30}, analysis_step("jump"), {"setWeight": 60}],
                "abortScaleDownDelaySeconds": 1,
            }
        }
    }
    podinfo.create(**spec)
    podinfo.wait(Stage.HEALTHY)
    stable = podinfo.state().stable_revision
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.ANALYZING, canary_revision=revision, timeout=20)
    assert podinfo.weight() == 30
    metrics.set("app_error_ratio", 0.5, case="jump")
    aborted = podinfo.wait(Stage.ABORTED, timeout=30)
    assert podinfo.weight() == 0  # traffic back on the primary at once
    assert aborted.reason == "AnalysisFailed"
    assert "error-rate" in aborted.message and "0.5" in aborted.message
    status = podinfo.kube.rollout(demo.NAMESPACE, demo.NAME)["status"]  # type: ignore[index]
    assert status["phase"] == "Degraded"
    assert status["stableRevision"] == stable
    target = lambda: podinfo.kube.deployment(demo.NAMESPACE, demo.NAME)  # noqa: E731
    eventually(
        lambda: target()["spec"]["replicas"] == 0,
        timeout=15,  # type: ignore[index]
        what="canary scaled down after abortScaleDownDelaySeconds",
    )
    primary = podinfo.kube.deployment(demo.NAMESPACE, f"{demo.NAME}-primary")
    assert primary is not None
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:1"


def test_a_query_without_data_ends_inconclusive_and_pauses(
    podinfo: Demo, prometheus: Prometheus
) -> None:
    podinfo.kube.create(
        template("error-rate", error_rate(prometheus.url, count=1), [{"name": "case"}])
    )
    start_canary(
        podinfo, [{"setWeight": 10}, analysis_step("nobody-sends-this"), {"setWeight": 50}]
    )
    paused = podinfo.wait(Stage.PAUSED, timeout=30)
    assert paused.reason == "InconclusiveAnalysis"
    assert podinfo.weight() == 10
    status = podinfo.kube.rollout(demo.NAMESPACE, demo.NAME)["status"]  # type: ignore[index]
    assert status["phase"] == "Paused"
    assert [c["reason"] for c in status["pauseConditions"]] == ["InconclusiveAnalysis"]
    (run,) = runs.runs_of(paused).values()
    measurement = run.measurements["error-rate"][0]
    assert measurement.phase == model.MeasurementPhase.INCONCLUSIVE
    assert "no data" in measurement.message


def test_an_unreachable_prometheus_is_an_error_and_fails_the_run(podinfo: Demo) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    podinfo.kube.create(
        template(
            "error-rate",
            error_rate(closed, interval="200ms", count=5, consecutiveErrorLimit=2),
            [{"name": "case"}],
        )
    )
    start_canary(
        podinfo,
        [{"setWeight": 10}, analysis_step("x")],
        strategy={
            "canary": {
                "steps": [{"setWeight": 10}, analysis_step("x")],
                "abortScaleDownDelaySeconds": 1,
            }
        },
    )
    aborted = podinfo.wait(Stage.ABORTED, timeout=30)
    assert aborted.reason == "AnalysisError"
    (run,) = runs.runs_of(aborted).values()
    taken = run.measurements["error-rate"]
    assert [m.phase for m in taken] == [model.MeasurementPhase.ERROR] * 3
    assert "Connection refused" in taken[-1].message
    assert "consecutiveErrors (3) > consecutiveErrorLimit (2)" in aborted.message


class Health:
    """A small real HTTP endpoint whose answer the test flips."""

    def __init__(self) -> None:
        self.ok = True
        self.endpoint = JsonEndpoint(lambda: {"status": {"ok": self.ok}}, "/health")
        self.url = self.endpoint.url

    @property
    def hits(self) -> int:
        return self.endpoint.hits


@pytest.fixture
def health() -> Iterator[Health]:
    state = Health()
    try:
        yield state
    finally:
        state.endpoint.stop()


def test_background_analysis_failing_during_a_pause_aborts_at_once(
    podinfo: Demo, health: Health
) -> None:
    podinfo.kube.create(
        template(
            "healthy",
            {
                "name": "healthy",
                "interval": "300ms",
                "successCondition": "result == true",
                "provider": {"web": {"url": health.url, "jsonPath": "{$.status.ok}"}},
            },
        )
    )
    strategy = {
        "canary": {
            "steps": [{"setWeight": 25}, {"pause": {"duration": "10m"}}],
            "analysis": {"templates": [{"templateName": "healthy"}], "startingStep": 1},
            "abortScaleDownDelaySeconds": 1,
        }
    }
    start_canary(podinfo, [], strategy=strategy)
    paused = podinfo.wait(Stage.PAUSED, step=1, timeout=20)
    assert paused.pause_until > paused.pause_started + 500
    eventually(lambda: health.hits >= 2, what="background measurements")
    health.ok = False
    aborted = podinfo.wait(Stage.ABORTED, timeout=20)
    assert aborted.reason == "AnalysisFailed" and "healthy" in aborted.message
    assert podinfo.weight() == 0
    (run,) = runs.runs_of(aborted).values()
    assert run.kind == runs.BACKGROUND and run.phase == model.AnalysisPhase.FAILED


@pytest.mark.parametrize(("exit_code", "ending"), [("0", Stage.HEALTHY), ("1", Stage.ABORTED)])
def test_a_job_metric_decides_by_the_jobs_outcome(
    podinfo: Demo, exit_code: str, ending: Stage
) -> None:
    podinfo.kube.create(
        template(
            "error-rate",
            {
                "name": "smoke",
                "provider": {
                    "job": {
                        "spec": {
                            "backoffLimit": 0,
                            "template": {
                                "metadata": {"annotations": {"sim.ferry.dev/exit-code": exit_code}},
                                "spec": {
                                    "restartPolicy": "Never",
                                    "containers": [{"name": "smoke", "image": "curl:8"}],
                                },
                            },
                        }
                    }
                },
            },
        )
    )
    strategy = {
        "canary": {
            "steps": [
                {"setWeight": 10},
                {"analysis": {"templates": [{"templateName": "error-rate"}]}},
            ],
            "abortScaleDownDelaySeconds": 1,
        }
    }
    revision = start_canary(podinfo, [], strategy=strategy)
    if ending == Stage.HEALTHY:
        podinfo.wait(Stage.HEALTHY, stable_revision=revision, timeout=30)
    else:
        aborted = podinfo.wait(Stage.ABORTED, timeout=30)
        assert "smoke" in aborted.message
    jobs = podinfo.kube.list_of("batch/v1", "jobs", demo.NAMESPACE)
    assert len(jobs) == 1  # one measurement, one Job, however often it was looked at


def test_measurement_events_twice_or_out_of_order_change_nothing(
    podinfo: Demo, runtime: Runtime, metrics: Metrics, prometheus: Prometheus
) -> None:
    metrics.set("app_error_ratio", 0.0, case="dup")
    observed(prometheus, "dup", 0.0)
    podinfo.kube.create(
        template(
            "error-rate", error_rate(prometheus.url, interval="1h", count=3), [{"name": "case"}]
        )
    )
    start_canary(podinfo, [analysis_step("dup")])
    state = eventually(
        lambda: (
            (s := podinfo.state()).stage == Stage.ANALYZING
            and any(r.measurements.get("error-rate") for r in runs.runs_of(s).values())
            and s
        ),
        timeout=30,
        what="the first measurement",
    )
    (run,) = runs.runs_of(state).values()
    version = podinfo.state().version
    first = runs.measurement_event(state, run.name, "error-rate", 0)
    ahead = runs.measurement_event(state, run.name, "error-rate", 5)
    stale = runs.measurement_event(
        state.with_(attempt=state.attempt - 1), run.name, "error-rate", 1
    )
    for event in (first, first, ahead, stale, first):
        assert post_to(runtime, "measure", event) in (200, 202)
    after = podinfo.state()
    assert after.version == version
    assert len(runs.runs_of(after)[run.name].measurements["error-rate"]) == 1


def test_a_command_delivered_twice_is_carried_out_once(podinfo: Demo, runtime: Runtime) -> None:
    start_canary(podinfo, [{"setWeight": 20}, {"pause": {}}, {"setWeight": 40}])
    podinfo.wait(Stage.PAUSED, step=1)
    request = podinfo.command("promote")  # detect announces it too
    command_id = events.ext(request, events.Ext.COMMAND)
    publish(runtime, request)  # through the Broker, so replies flow on
    publish(runtime, request)
    podinfo.wait(Stage.HEALTHY, timeout=20)
    by_command = [e for e in podinfo.history() if e.get("command") == command_id]
    assert len(by_command) == 1
    assert by_command[0]["user"] == "alice"
    assert by_command[0]["note"].startswith("promoted by alice")
