"""Reading templates and runs (``shared.analysis.validation``, ``configs``, ``fields``).

Covered: defaults (Argo's effective count, limits, no-data policy); every problem reported at once
with its field path; conditions compiled at parse time (a hostile condition is refused before
anything runs, as is an argument value that breaks one); arguments checked where they are used;
provider blocks; dryRun / measurementRetention rules as regular expressions; runs parsed like
templates plus ``terminate``; merging several templates as Argo flattens them.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared import models
from shared.analysis import measurements, model, validation
from shared.analysis.model import MeasurementPhase as M
from tests.shared.analysis.conftest import PROM, F, S, metric, parsed, problems, template


def test_defaults_follow_argo() -> None:
    m = parsed()
    assert (m.provider, dict(m.config)) == ("prometheus", PROM["prometheus"])
    assert m.count == 1, "no interval, no count: one measurement"
    assert (m.failure_limit, m.inconclusive_limit, m.consecutive_error_limit) == (0, 0, 4)
    assert (m.interval, m.initial_delay, m.no_data) == (None, 0.0, M.INCONCLUSIVE)
    assert (m.dry_run, m.retention) == (False, 10)
    assert parsed(interval="30s").count is None, "an interval without count runs until the end"
    assert parsed(interval="30s", count=0).count is None, "count 0 is no count"
    assert parsed(interval="1m", count="5").count == 5, "count may be a string"
    assert parsed(interval="1m", initialDelay="1h30m").initial_delay == 5400


def test_limits_and_policy_are_read() -> None:
    m = parsed(
        interval="10s",
        count=10,
        failureLimit="2",
        inconclusiveLimit=3,
        consecutiveErrorLimit=0,
        noDataPolicy="Error",
    )
    assert (m.failure_limit, m.inconclusive_limit, m.consecutive_error_limit) == (2, 3, 0)
    assert m.no_data == M.ERROR


def test_every_problem_is_reported_with_its_path() -> None:
    found = problems(
        template(
            metric("a", count=3, failureLimit=5),
            metric("a", interval="1d"),
            {"name": "c", "provider": {"datadog": {}}},
            metric("d", noDataPolicy="Ignore", successCondition="result >"),
        )
    )
    assert found == [
        "spec.metrics[0].count (3) must be >= failureLimit (5)",
        "spec.metrics[0].interval is required when count > 1",
        "spec.metrics[1].interval: invalid duration '1d': use a number of seconds or a "
        "duration like 30s, 5m, 1h30m",
        "spec.metrics[1].name 'a' is used by another metric",
        "spec.metrics[2].provider names an unknown provider 'datadog' (known: job, prometheus, "
        "web)",
        found[5],
        "spec.metrics[3].noDataPolicy must be one of Inconclusive, Failed, Error, got 'Ignore'",
    ]
    assert found[5].startswith("spec.metrics[3].successCondition: invalid condition")


@pytest.mark.parametrize(
    "condition",
    [
        "__import__('os').system('id')",
        "result.__class__.__bases__",
        "open('/etc/passwd').read()",
        "[x for x in ().__class__.__base__.__subclasses__()]",
        "lambda: 1",
    ],
)
def test_a_hostile_condition_is_refused_when_the_template_is_read(condition: str) -> None:
    (problem,) = problems(template(metric(successCondition=condition)))
    assert problem.startswith("spec.metrics[0].successCondition: invalid condition")


def test_conditions_may_use_arguments_and_a_hostile_argument_value_is_refused() -> None:
    obj = template(
        metric(successCondition="result[0] >= {{ args.min }}"),
        args=[{"name": "min", "value": "0.9"}],
    )
    parsed_template = validation.parse_template(obj)  # checked with a placeholder for min
    (m,) = validation.metrics(parsed_template, {"min": "0.95"})
    assert m.success is not None and m.success.text == "result[0] >= 0.95"
    assert measurements.assess(m, [0.96])[0] == S and measurements.assess(m, [0.9])[0] == F
    with pytest.raises(models.InvalidSpec, match="successCondition: invalid condition"):
        validation.metrics(parsed_template, {"min": "__import__('os').getcwd()"})


def test_an_argument_no_arg_declares_is_refused() -> None:
    assert problems(template(metric(successCondition="result > {{args.typo}}"))) == [
        "spec.metrics[0] uses {{args.typo}} but spec.args does not declare it"
    ]


def test_a_whole_url_may_come_from_an_argument() -> None:
    web = {"web": {"url": "{{args.url}}", "jsonPath": "{$.ok}"}}
    t = validation.parse_template(
        template(metric(provider=web, successCondition="result"), args=[{"name": "url"}])
    )
    (m,) = validation.metrics(t, {"url": "http://svc/health"})
    assert m.config["url"] == "http://svc/health"
    with pytest.raises(models.InvalidSpec, match="must be an http:// or https:// URL"):
        validation.metrics(t, {"url": "svc/health"})


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"thresholdRange": {"min": 1}, "successCondition": "true"}, "cannot be combined"),
        ({"thresholdRange": {"min": 2, "max": 1}}, "min 2 is above max 1"),
        ({"thresholdRange": {}}, "thresholdRange must be {min: <number>, max: <number>}"),
        ({"thresholdRange": {"max": True}}, "thresholdRange.max must be a number"),
        ({"interval": "0s"}, "interval must be more than 0"),
        ({"count": 2, "inconclusiveLimit": 3, "interval": "1s"}, ">= inconclusiveLimit (3)"),
        ({"consecutiveErrorLimit": -1}, "must be a non-negative integer, got -1"),
        ({"successCondition": ""}, "successCondition must be a non-empty expression"),
        ({"dryRun": True}, "unknown field(s) dryRun"),
        ({"provider": {}}, "must name exactly one of job, prometheus, web"),
        ({"provider": {"web": {"url": "http://x", "body": "{}"}}}, "body needs method POST"),
        ({"provider": {"web": {"url": "http://x", "method": "PATCH"}}}, "method must be one"),
        ({"provider": {"web": {"url": "http://x", "jsonPath": "{$.a["}}}, "web.jsonPath:"),
        ({"provider": {"web": {"url": "http://x", "timeoutSeconds": 0}}}, "positive integer"),
        ({"provider": {"prometheus": {"address": "p:9090", "query": "up"}}}, "http:// or"),
        ({"provider": {"prometheus": {"address": "http://p"}}}, "query must be a non-empty"),
        ({"provider": {"prometheus": {**PROM["prometheus"], "headers": [{"key": "X"}]}}}, "{key"),
        ({"provider": {"job": {"spec": {}}}}, "job.spec must be a Job spec with a pod template"),
        (
            {"provider": {"job": {"spec": {"template": {}}}}, "successCondition": "true"},
            "a job metric is decided by the Job's outcome",
        ),
    ],
)
def test_metric_problems(fields: dict[str, Any], problem: str) -> None:
    found = problems(template(metric(**fields)))
    assert any(problem in p for p in found), found


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"metrics": []}, "spec.metrics must list at least one metric"),
        ({"args": [{"name": "a"}, {"name": "a"}]}, "spec.args[1].name 'a' is declared twice"),
        ({"args": [{"name": "a", "value": 1}]}, "spec.args[0].value must be a string"),
        (
            {"args": [{"name": "a", "value": "1", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]},
            "spec.args[0] has both value and valueFrom",
        ),
        (
            {"args": [{"name": "a", "valueFrom": {"configMapKeyRef": {}}}]},
            "unknown source 'configMapKeyRef'",
        ),
        (
            {"args": [{"name": "a", "valueFrom": {"secretKeyRef": {"name": "s"}}}]},
            "spec.args[0].valueFrom.secretKeyRef.key must be a non-empty string",
        ),
        ({"args": [{"name": "a b"}]}, "must not contain spaces or braces"),
        ({"dryRun": [{"metricName": "nope"}]}, "spec.dryRun[0].metricName 'nope' matches no"),
        ({"dryRun": [{"metricName": "m"}, {"metricName": "m"}]}, "is listed twice"),
        ({"dryRun": [{"metricName": "("}]}, "not a valid regular expression"),
        (
            {"measurementRetention": [{"metricName": "m", "limit": 0}]},
            "spec.measurementRetention[0].limit must be a positive integer",
        ),
    ],
)
def test_spec_problems(spec: dict[str, Any], problem: str) -> None:
    obj = template()
    obj["spec"].update(spec)
    found = problems(obj)
    assert any(problem in p for p in found), found


def test_a_spec_is_required() -> None:
    with pytest.raises(models.InvalidSpec, match="spec is required"):
        validation.parse_template({"metadata": {"name": "x"}})


def test_dry_run_and_retention_rules_are_regular_expressions() -> None:
    t = validation.parse_template(
        template(
            metric("error-rate"),
            metric("error-budget"),
            metric("latency"),
            dryRun=[{"metricName": "^error-"}],
            measurementRetention=[{"metricName": "budget", "limit": 3}],
        )
    )
    by_name = {m.name: m for m in validation.metrics(t)}
    assert {n for n, m in by_name.items() if m.dry_run} == {"error-rate", "error-budget"}
    assert {n: m.retention for n, m in by_name.items()} == {
        "error-rate": 10,
        "error-budget": 3,
        "latency": 10,
    }


def test_a_run_is_parsed_like_a_template_plus_terminate() -> None:
    run = {"kind": "AnalysisRun", "metadata": {"name": "r"}, "spec": template()["spec"]}
    assert validation.parse_run(run).terminate is False
    run["spec"]["terminate"] = True
    assert validation.parse_run(run).terminate is True
    run["spec"]["terminate"] = "yes"
    with pytest.raises(models.InvalidSpec, match=r"spec\.terminate must be true or false"):
        validation.parse_run(run)


def test_templates_merge_as_argo_flattens_them() -> None:
    first = validation.parse_template(
        template(metric("a"), args=[{"name": "svc"}, {"name": "x", "value": "1"}])
    )
    second = validation.parse_template(
        template(metric("b"), args=[{"name": "svc", "value": "web"}, {"name": "x", "value": "1"}])
    )
    merged = validation.merge_templates([first, second])
    assert [m["name"] for m in merged.metric_specs] == ["a", "b"]
    assert merged.args == (model.Arg("svc", value="web"), model.Arg("x", value="1"))
    clash = validation.parse_template(template(metric("a"), args=[{"name": "x", "value": "2"}]))
    with pytest.raises(models.InvalidSpec) as info:
        validation.merge_templates([first, clash])
    assert info.value.problems == [
        "argument 'x' has different values in two templates",
        "two metrics are named 'a'",
    ]
