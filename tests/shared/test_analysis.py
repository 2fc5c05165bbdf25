"""The analysis model (``shared.analysis``): Argo Rollouts' decisions, and what feeds them.

Aspects covered:
- parsing templates and runs: defaults (Argo's effective count, limits, no-data policy), every
  problem reported at once with its field path, conditions compiled at parse time (a hostile
  condition is refused before anything runs, as is an argument value that breaks one), provider
  blocks, dryRun / measurementRetention rules, merging several templates;
- arguments: given ones override the template's, required ones must be given, Secrets and
  fieldRefs through callbacks, secret values masked and redacted and never stored in a run's
  spec, ``{{args.NAME}}`` substitution, fieldRef paths;
- one measurement (``assess``): thresholdRange, every success/failure condition rule, no data
  under each policy, evaluation errors; values rendered as Argo writes them;
- a metric's phase: failure, inconclusive and consecutive-error limits, count (Errors excluded),
  in-flight measurements, termination; when the next measurement is due;
- a run's phase: early end on a failing metric, worst phase, dry runs never deciding,
  termination, the message; the AnalysisRun status shape and measurement retention.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from shared import analysis, models
from shared.analysis import AnalysisPhase as A
from shared.analysis import Measurement
from shared.analysis import MeasurementPhase as M

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


def parsed(**fields: Any) -> analysis.Metric:
    """One metric parsed from ``fields`` (no arguments)."""
    (only,) = analysis.parse_template(template(metric(**fields))).metrics()
    return only


def problems(obj: dict[str, Any]) -> list[str]:
    with pytest.raises(models.InvalidSpec) as info:
        analysis.parse_template(obj)
    return info.value.problems


def done(phase: M, at: float = 0.0) -> Measurement:
    return Measurement(phase, started_at=at, finished_at=at + 1)


S, F, INC, E = M.SUCCESSFUL, M.FAILED, M.INCONCLUSIVE, M.ERROR


def series(*phases: M) -> list[Measurement]:
    return [done(p, at=10.0 * i) for i, p in enumerate(phases)]


# -- parsing ------------------------------------------------------------------------------


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
    parsed_template = analysis.parse_template(obj)  # checked with a placeholder for min
    (m,) = parsed_template.metrics({"min": "0.95"})
    assert m.success is not None and m.success.text == "result[0] >= 0.95"
    assert analysis.assess(m, [0.96])[0] == S and analysis.assess(m, [0.9])[0] == F
    with pytest.raises(models.InvalidSpec, match="successCondition: invalid condition"):
        parsed_template.metrics({"min": "__import__('os').getcwd()"})


def test_an_argument_no_arg_declares_is_refused() -> None:
    assert problems(template(metric(successCondition="result > {{args.typo}}"))) == [
        "spec.metrics[0] uses {{args.typo}} but spec.args does not declare it"
    ]


def test_a_whole_url_may_come_from_an_argument() -> None:
    web = {"web": {"url": "{{args.url}}", "jsonPath": "{$.ok}"}}
    t = analysis.parse_template(
        template(metric(provider=web, successCondition="result"), args=[{"name": "url"}])
    )
    (m,) = t.metrics({"url": "http://svc/health"})
    assert m.config["url"] == "http://svc/health"
    with pytest.raises(models.InvalidSpec, match="must be an http:// or https:// URL"):
        t.metrics({"url": "svc/health"})


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
        analysis.parse_template({"metadata": {"name": "x"}})


def test_dry_run_and_retention_rules_are_regular_expressions() -> None:
    t = analysis.parse_template(
        template(
            metric("error-rate"),
            metric("error-budget"),
            metric("latency"),
            dryRun=[{"metricName": "^error-"}],
            measurementRetention=[{"metricName": "budget", "limit": 3}],
        )
    )
    by_name = {m.name: m for m in t.metrics()}
    assert {n for n, m in by_name.items() if m.dry_run} == {"error-rate", "error-budget"}
    assert {n: m.retention for n, m in by_name.items()} == {
        "error-rate": 10,
        "error-budget": 3,
        "latency": 10,
    }


def test_a_run_is_parsed_like_a_template_plus_terminate() -> None:
    run = {"kind": "AnalysisRun", "metadata": {"name": "r"}, "spec": template()["spec"]}
    assert analysis.parse_run(run).terminate is False
    run["spec"]["terminate"] = True
    assert analysis.parse_run(run).terminate is True
    run["spec"]["terminate"] = "yes"
    with pytest.raises(models.InvalidSpec, match=r"spec\.terminate must be true or false"):
        analysis.parse_run(run)


def test_templates_merge_as_argo_flattens_them() -> None:
    first = analysis.parse_template(
        template(metric("a"), args=[{"name": "svc"}, {"name": "x", "value": "1"}])
    )
    second = analysis.parse_template(
        template(metric("b"), args=[{"name": "svc", "value": "web"}, {"name": "x", "value": "1"}])
    )
    merged = analysis.merge_templates([first, second])
    assert [m["name"] for m in merged.metric_specs] == ["a", "b"]
    assert merged.args == (analysis.Arg("svc", value="web"), analysis.Arg("x", value="1"))
    clash = analysis.parse_template(template(metric("a"), args=[{"name": "x", "value": "2"}]))
    with pytest.raises(models.InvalidSpec) as info:
        analysis.merge_templates([first, clash])
    assert info.value.problems == [
        "argument 'x' has different values in two templates",
        "two metrics are named 'a'",
    ]


# -- arguments ----------------------------------------------------------------------------

TEMPLATE_ARGS = (
    analysis.Arg("service"),
    analysis.Arg("threshold", value="0.95"),
    analysis.Arg("token", secret=analysis.SecretRef("api", "token")),
    analysis.Arg("app", field_path="metadata.labels['app']"),
)
ROLLOUT = {
    "metadata": {"name": "podinfo", "namespace": "demo", "labels": {"app": "podinfo"}},
    "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}]}}, "paused": False},
}


def secrets(name: str, key: str) -> str:
    return {("api", "token"): "s3cr3t-value"}[(name, key)]


def fields(path: str) -> str:
    return analysis.field_value(ROLLOUT, path)


def test_args_resolve_with_overrides_secrets_and_fields() -> None:
    resolved = analysis.resolve_args(
        TEMPLATE_ARGS,
        {"service": "podinfo", "threshold": "0.99", "unknown": "ignored"},
        secret=secrets,
        field=fields,
    )
    assert dict(resolved.values) == {
        "service": "podinfo",
        "threshold": "0.99",
        "token": "s3cr3t-value",
        "app": "podinfo",
    }
    assert resolved.secret_names == {"token"}


def test_args_given_as_args_may_override_a_source() -> None:
    given = [analysis.Arg("token", value="plain"), analysis.Arg("service", value="web")]
    resolved = analysis.resolve_args(TEMPLATE_ARGS, given, secret=secrets, field=fields)
    assert resolved.values["token"] == "plain" and resolved.secret_names == frozenset()


def test_every_missing_or_unreadable_arg_is_reported_without_secret_values() -> None:
    def broken_secret(name: str, key: str) -> str:
        raise KeyError(f"secret {name} not found")

    with pytest.raises(analysis.ArgsError) as info:
        analysis.resolve_args(
            (*TEMPLATE_ARGS, analysis.Arg("ns", field_path="metadata.uid")),
            {},
            secret=broken_secret,
            field=fields,
        )
    assert info.value.problems == [
        "args.service was not resolved: the template gives no value and none was passed",
        "args.token: cannot read secret 'api' key 'token': secret api not found",
        "args.ns: cannot read fieldRef 'metadata.uid': fieldPath 'metadata.uid': nothing at "
        "'metadata.uid'",
    ]
    assert isinstance(info.value, models.InvalidSpec)


def test_secret_values_are_masked_and_redacted() -> None:
    resolved = analysis.resolve_args(TEMPLATE_ARGS, {"service": "x"}, secret=secrets, field=fields)
    assert resolved.masked()["token"] == analysis.MASK
    assert resolved.masked()["service"] == "x"
    assert "s3cr3t" not in repr(resolved) and "s3cr3t" not in str(resolved)
    message = "401 from http://svc?token=s3cr3t-value (token s3cr3t-value)"
    assert resolved.redact(message) == "401 from http://svc?token=***** (token *****)"


def test_render_substitutes_args_recursively_and_leaves_the_rest() -> None:
    config = {
        "url": "http://{{args.service}}.{{ args.ns }}:8080/{{  args.service  }}",
        "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}],
        "timeoutSeconds": 5,
        "insecure": True,
        "body": "{{ .Values.x }} {{args}} {{ arg.service }}",
    }
    original = json.dumps(config)
    out = analysis.render(config, {"service": "podinfo", "ns": "demo", "token": "t"})
    assert out == {
        "url": "http://podinfo.demo:8080/podinfo",
        "headers": [{"key": "Authorization", "value": "Bearer t"}],
        "timeoutSeconds": 5,
        "insecure": True,
        "body": "{{ .Values.x }} {{args}} {{ arg.service }}",
    }
    assert json.dumps(config) == original, "the input is not changed"
    resolved = analysis.ResolvedArgs(
        {"service": "s", "ns": "n", "token": "t"}, frozenset({"token"})
    )
    assert analysis.render("{{args.token}}", resolved) == "t"
    with pytest.raises(analysis.ArgsError, match=r"\{\{args.nope\}\} names no argument"):
        analysis.render(["ok", {"q": "{{args.nope}}"}], {})


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("metadata.name", "podinfo"),
        ("metadata.labels['app']", "podinfo"),
        ('metadata.labels["app"]', "podinfo"),
        ("spec.strategy.canary.steps[0].setWeight", "20"),
        ("spec.paused", "false"),
    ],
)
def test_field_paths(path: str, value: str) -> None:
    assert analysis.field_value(ROLLOUT, path) == value


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("metadata.labels['team']", LookupError),
        ("spec.strategy.canary.steps[3]", LookupError),
        ("spec.strategy", ValueError),
        ("metadata..name", ValueError),
        ("", ValueError),
    ],
)
def test_bad_field_paths(path: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        analysis.field_value(ROLLOUT, path)


def test_a_run_spec_keeps_metrics_as_written_and_secrets_as_references() -> None:
    obj = template(
        metric(
            "m",
            interval="1m",
            provider={
                "web": {
                    "url": "http://{{args.service}}",
                    "headers": [{"key": "Authorization", "value": "{{args.token}}"}],
                }
            },
        ),
        args=[a.to_dict() for a in TEMPLATE_ARGS],
        dryRun=[{"metricName": "m"}],
        measurementRetention=[{"metricName": "m", "limit": 5}],
    )
    spec = analysis.run_spec(
        analysis.parse_template(obj), {"service": "podinfo"}, field=fields, terminate=True
    )
    assert spec == {
        "metrics": obj["spec"]["metrics"],
        "args": [
            {"name": "service", "value": "podinfo"},
            {"name": "threshold", "value": "0.95"},
            {"name": "token", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
            {"name": "app", "value": "podinfo"},
        ],
        "dryRun": [{"metricName": "m"}],
        "measurementRetention": [{"metricName": "m", "limit": 5}],
        "terminate": True,
    }
    # The run is read back, and its arguments resolved at each measurement.
    run = analysis.parse_run({"spec": spec})
    resolved = analysis.resolve_args(run.template.args, {}, secret=secrets, field=fields)
    (m,) = run.template.metrics(resolved)
    assert m.config["headers"][0]["value"] == "s3cr3t-value" and m.dry_run and m.retention == 5
    with pytest.raises(analysis.ArgsError, match=r"args\.service was not resolved"):
        analysis.run_spec(analysis.parse_template(obj), {})


# -- one measurement ----------------------------------------------------------------------


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
    assert analysis.assess(parsed(thresholdRange=bounds), value)[0] == phase


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
    got, reason = analysis.assess(parsed(**fields), value)
    assert got == phase
    assert (reason == "") == (phase == S)


def test_an_evaluation_error_is_an_error_measurement() -> None:
    phase, reason = analysis.assess(parsed(successCondition="result[3] > 1"), [1.0])
    assert phase == E and reason.startswith("successCondition: cannot evaluate condition")
    phase, _ = analysis.assess(parsed(failureCondition="result > 1"), "text")
    assert phase == E


@pytest.mark.parametrize("value", [None, [], math.nan, [math.nan]])
@pytest.mark.parametrize("policy", ["Inconclusive", "Failed", "Error", None])
def test_no_data_follows_the_policy(value: Any, policy: str | None) -> None:
    fields: dict[str, Any] = {"successCondition": "result[0] > 1"}
    if policy:
        fields["noDataPolicy"] = policy
    assert analysis.assess(parsed(**fields), value) == (M(policy or "Inconclusive"), "no data")


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
    assert analysis.format_value(value) == text


def test_measure_assesses_and_renders() -> None:
    m = parsed(successCondition="result[0] >= 0.95")
    got = analysis.measure(m, [0.9], started_at=100.0, finished_at=101.0, message="1 series")
    assert got == Measurement(
        F, 100.0, 101.0, "[0.9]", "successCondition 'result[0] >= 0.95' is false; 1 series"
    )
    assert analysis.measure(m, None, started_at=1, finished_at=2).value is None


# -- a metric's phase ---------------------------------------------------------------------


def test_failed_when_failures_pass_the_limit() -> None:
    m = parsed(interval="1m", count=5, failureLimit=1)
    assert analysis.metric_phase(m, series(F, S)) is None
    assert analysis.metric_phase(m, series(F, S, F)) == A.FAILED


def test_inconclusive_when_inconclusives_pass_the_limit() -> None:
    m = parsed(interval="1m", count=5, inconclusiveLimit=1)
    assert analysis.metric_phase(m, series(INC)) is None
    assert analysis.metric_phase(m, series(INC, S, INC)) == A.INCONCLUSIVE


def test_error_after_more_consecutive_errors_than_the_limit() -> None:
    m = parsed(interval="1m", count=10)
    assert analysis.metric_phase(m, series(E, E, E, E)) is None
    assert analysis.metric_phase(m, series(E, E, E, S, E, E, E, E)) is None, "a success resets"
    assert analysis.metric_phase(m, series(E, E, E, E, E)) == A.ERROR
    assert analysis.metric_phase(parsed(consecutiveErrorLimit=0), series(E)) == A.ERROR


def test_errors_do_not_count_towards_count() -> None:
    m = parsed(interval="1m", count=2)
    assert analysis.metric_phase(m, series(S, E)) is None
    assert analysis.metric_phase(m, series(S, E, S)) == A.SUCCESSFUL
    assert analysis.metric_phase(parsed(), series(E)) is None, "count 1: an Error is retried"


def test_count_reached_with_tolerated_failures_is_successful() -> None:
    m = parsed(interval="1m", count=3, failureLimit=1, inconclusiveLimit=1)
    assert analysis.metric_phase(m, series(F, INC, S)) == A.SUCCESSFUL


def test_a_later_limit_wins_as_in_argo() -> None:
    m = parsed(consecutiveErrorLimit=0)
    assert analysis.metric_phase(m, series(F, E)) == A.ERROR


def test_in_flight_and_termination() -> None:
    flying = Measurement(M.RUNNING, started_at=0.0)
    m = parsed(interval="1m")
    assert analysis.metric_phase(m, []) is None
    assert analysis.metric_phase(m, [], terminating=True) == A.SUCCESSFUL
    assert analysis.metric_phase(m, [*series(S), flying], terminating=True) is None
    assert analysis.metric_phase(m, series(S, S, S)) is None, "no count: runs until the end"
    assert analysis.metric_phase(m, series(S, S, S), terminating=True) == A.SUCCESSFUL
    assert analysis.metric_phase(m, series(F), terminating=True) == A.FAILED


def test_next_measurement_times() -> None:
    m = parsed(interval="30s", count=3, initialDelay="1m")
    assert analysis.next_measurement_at(m, [], started_at=1000.0) == 1060.0
    first = [Measurement(S, 1060.0, 1061.0)]
    assert analysis.next_measurement_at(m, first, 1000.0) == 1091.0, "interval after finish"
    errored = [*first, Measurement(E, 1091.0, 1092.0)]
    assert analysis.next_measurement_at(m, errored, 1000.0) == 1102.0, "errors retry in 10s"
    assert analysis.next_measurement_at(m, first, 1000.0, terminating=True) is None
    flying = [*first, Measurement(M.RUNNING, 1091.0, resume_at=1096.0)]
    assert analysis.next_measurement_at(m, flying, 1000.0) == 1096.0
    assert analysis.next_measurement_at(m, [*first, Measurement(M.RUNNING, 1091.0)], 1000) is None
    full = [Measurement(S, t, t + 1) for t in (1060.0, 1091.0, 1122.0)]
    assert analysis.next_measurement_at(m, full, 1000.0) is None, "count reached"
    failed = [Measurement(F, 1060.0, 1061.0)]
    assert analysis.next_measurement_at(m, failed, 1000.0) is None, "metric Failed"
    assert analysis.next_measurement_at(parsed(), [Measurement(E, 0.0, 5.0)], 0.0) == 15.0


# -- a run's phase ------------------------------------------------------------------------


def metrics(*names: str, dry: tuple[str, ...] = ()) -> tuple[analysis.Metric, ...]:
    spec = template(*(metric(n) for n in names), dryRun=[{"metricName": f"^{d}$"} for d in dry])
    if not dry:
        del spec["spec"]["dryRun"]
    return analysis.parse_template(spec).metrics()


def test_a_failing_metric_ends_the_run_at_once() -> None:
    ms = metrics("a", "b")
    assert analysis.run_phase(ms, {"a": A.FAILED, "b": None}) == A.FAILED
    assert analysis.run_phase(ms, {"a": A.ERROR, "b": None}) == A.ERROR
    assert analysis.run_phase(ms, {"a": A.INCONCLUSIVE, "b": A.SUCCESSFUL}) == A.INCONCLUSIVE
    assert analysis.run_phase(ms, {"a": A.SUCCESSFUL, "b": None}) is None


def test_the_worst_phase_decides() -> None:
    ms = metrics("a", "b", "c")
    assert analysis.run_phase(ms, {"a": A.ERROR, "b": A.FAILED, "c": A.INCONCLUSIVE}) == A.FAILED
    assert analysis.run_phase(ms, {"a": A.ERROR, "b": A.SUCCESSFUL, "c": A.INCONCLUSIVE}) == (
        A.ERROR
    )
    assert analysis.run_phase(ms, dict.fromkeys("abc", A.SUCCESSFUL)) == A.SUCCESSFUL


def test_dry_run_metrics_never_decide() -> None:
    ms = metrics("a", "b", dry=("b",))
    assert analysis.run_phase(ms, {"a": None, "b": A.FAILED}) is None
    assert analysis.run_phase(ms, {"a": A.SUCCESSFUL, "b": A.FAILED}) == A.SUCCESSFUL
    only_dry = metrics("b", dry=("b",))
    assert analysis.run_phase(only_dry, {"b": A.ERROR}) == A.SUCCESSFUL
    assert analysis.terminating(ms, {"a": None, "b": A.FAILED}) is False


def test_termination_ends_with_what_was_reached() -> None:
    ms = metrics("a", "b")
    assert analysis.run_phase(ms, {}, terminate=True) == A.SUCCESSFUL
    assert analysis.run_phase(ms, {"a": A.SUCCESSFUL, "b": None}, terminate=True) == A.SUCCESSFUL
    assert analysis.run_phase(ms, {"a": A.INCONCLUSIVE}, terminate=True) == A.INCONCLUSIVE


def test_evaluate_run_gives_argo_messages() -> None:
    ms = analysis.parse_template(
        template(metric("rate", interval="1m"), metric("errors", interval="1m"))
    ).metrics()
    failed = [Measurement(F, 0.0, 1.0, "[0.2]", "successCondition is false")]
    result = analysis.evaluate_run(ms, {"rate": failed, "errors": series(S)})
    assert result.phase == A.FAILED and result.terminating
    assert result.message == (
        'Metric "rate" assessed Failed due to failed (1) > failureLimit (0): '
        '"Error Message: successCondition is false"'
    )
    assert result.metric_phases == {"rate": A.FAILED, "errors": A.SUCCESSFUL}
    running = analysis.evaluate_run(ms, {"rate": series(S)})
    assert (running.phase, running.message, running.terminating) == (None, "", False)
    stopped = analysis.evaluate_run(ms, {"rate": series(S)}, terminate=True)
    assert (stopped.phase, stopped.message) == (A.SUCCESSFUL, "Run Terminated")


# -- the status ---------------------------------------------------------------------------


def test_run_status_has_argo_shape_and_retention() -> None:
    ms = analysis.parse_template(
        template(
            metric("rate", interval="1m"),
            metric("budget", interval="1m", failureLimit=1),
            metric("later", interval="1m"),
            dryRun=[{"metricName": "budget"}],
            measurementRetention=[{"metricName": "budget", "limit": 2}],
        )
    ).metrics()
    t0 = 1_750_000_000.0
    rate = [Measurement(S, t0 + i, t0 + i + 1, str(i)) for i in range(12)]
    budget = [Measurement(F, t0, t0 + 1, "1", "too high"), *series(S, F)]
    status = analysis.run_status(ms, {"rate": rate, "budget": budget}, None, "", started_at=t0)
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
    status = analysis.run_status(ms, {"a": series(S), "b": errors}, A.SUCCESSFUL, "Run Terminated")
    assert [r["phase"] for r in status["metricResults"]] == ["Successful", "Successful"]
    assert status["metricResults"][1]["message"] == "connection refused"
    assert status["runSummary"]["successful"] == 2
    assert (status["phase"], status["message"]) == ("Successful", "Run Terminated")


def test_measurements_round_trip_through_the_status() -> None:
    m = Measurement(M.RUNNING, 1_750_000_000.0, None, None, "", 1_750_000_030.0, {"job": "j-1"})
    assert analysis.Measurement.from_dict(m.to_dict()) == m
    d = Measurement(F, 1.0, 2.0, "0.5", "below").to_dict()
    assert analysis.Measurement.from_dict(d) == Measurement(F, 1.0, 2.0, "0.5", "below")
