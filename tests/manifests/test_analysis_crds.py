"""The analysis CRDs (AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun) and Ferry's
reading of them.

Covered: names, scopes and columns; structural schemas (free-form only where a Job spec is
embedded); one metric schema in all three; valid templates and runs accepted, invalid ones
rejected with the field at fault; every template the schema rejects is also rejected by
``shared.analysis``, and the examples it accepts parse; the status
``shared.analysis.decisions.run_status`` writes fits the CRD; a Rollout with step and
background analysis is accepted and parses.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError

from shared import models
from shared.analysis import arguments, decisions, model, validation
from shared.analysis.measurements import Measurement, measure
from tests.manifests.helpers import (
    ANALYSIS_CRDS,
    Obj,
    _analysis_crd,
    _contains,
    _crd_schema,
    _create,
    _message,
    _patch_status,
    _rejection,
    _schema_nodes,
)
from tests.manifests.objects import _analysis_examples, _minimal_rollout, _set

# -- read ---------------------------------------------------------------------------------


def _example(kind: str) -> Obj:
    (found,) = [e for e in _analysis_examples() if e["kind"] == kind]
    return found


def test_analysis_crd_names_scopes_and_columns() -> None:
    expected = {
        "analysistemplates": ("AnalysisTemplate", "Namespaced", "at"),
        "clusteranalysistemplates": ("ClusterAnalysisTemplate", "Cluster", "cat"),
        "analysisruns": ("AnalysisRun", "Namespaced", "ar"),
    }
    for plural, (kind, scope, short) in expected.items():
        crd = _analysis_crd(plural)
        spec = crd["spec"]
        assert crd["metadata"]["name"] == f"{plural}.ferry.dev"
        assert (spec["group"], spec["scope"], spec["names"]["kind"]) == ("ferry.dev", scope, kind)
        assert spec["names"]["plural"] == plural
        assert (spec["names"]["shortNames"], spec["names"]["categories"]) == ([short], ["ferry"])
        (version,) = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    (run_version,) = _analysis_crd("analysisruns")["spec"]["versions"]
    assert run_version["subresources"] == {"status": {}}
    assert [
        (c["name"], c["type"], c["jsonPath"]) for c in run_version["additionalPrinterColumns"]
    ] == [
        ("Status", "string", ".status.phase"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]
    assert (
        _crd_schema(_analysis_crd("analysisruns"))["properties"]["status"]["properties"]["phase"][
            "type"
        ]
        == "string"
    )
    for plural in ("analysistemplates", "clusteranalysistemplates"):
        (version,) = _analysis_crd(plural)["spec"]["versions"]
        assert (
            "subresources" not in version
            and "status" not in _crd_schema(_analysis_crd(plural))["properties"]
        ), "templates have no status"


FREE_FORM = {".spec.metrics[items].provider.job.spec"}
"""The only schema nodes that keep unknown fields: a job metric's embedded batch/v1 JobSpec."""


def test_analysis_schemas_are_structural_and_typed_except_the_embedded_job_spec() -> None:
    for plural in ANALYSIS_CRDS:
        free = set()
        for path, node in _schema_nodes(_crd_schema(_analysis_crd(plural))):
            where = f"{plural}: {path or '<root>'}"
            if node.get("x-kubernetes-preserve-unknown-fields"):
                free.add(path)
                assert node == {
                    "description": node["description"],
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                }, where
                continue
            if node.get("x-kubernetes-int-or-string"):
                assert "type" not in node, where
                continue
            allowed = {"object", "array", "string", "integer", "boolean", "number"}
            assert node.get("type") in allowed, where
            if node["type"] == "array":
                assert isinstance(node.get("items"), dict), where
                for key in node.get("x-kubernetes-list-map-keys") or ():
                    assert key in node["items"]["required"], f"{where}: map key {key}"
            if node["type"] == "object" and path != ".metadata":
                has_props, has_extra = "properties" in node, "additionalProperties" in node
                assert has_props != has_extra, f"{where}: properties xor additionalProperties"
            for key in node.get("required") or ():
                assert key in node.get("properties", {}), f"{where}: required {key} undeclared"
            assert "default" not in node, f"{where}: Ferry applies analysis defaults itself"
        assert free == FREE_FORM, plural


def test_one_metric_schema_in_templates_cluster_templates_and_runs() -> None:
    specs = {
        plural: _crd_schema(_analysis_crd(plural))["properties"]["spec"] for plural in ANALYSIS_CRDS
    }
    run = copy.deepcopy(specs["analysisruns"])
    assert run["properties"].pop("terminate")["type"] == "boolean"
    for spec in (specs["clusteranalysistemplates"], run):
        assert spec["properties"] == specs["analysistemplates"]["properties"]
        assert spec["required"] == ["metrics"]


def test_the_parser_rejects_what_the_analysis_schema_rejects() -> None:
    # Ferry re-validates every object it reads: what the API server would refuse (e.g. when an
    # object predates a CRD change) is refused by shared.analysis too.
    for name, mutate, _, _ in INVALID_ANALYSIS:
        template = _example("AnalysisTemplate")
        mutate(template["spec"])
        try:
            validation.parse_template(template)
        except models.InvalidSpec:
            continue
        raise AssertionError(f"{name}: accepted by shared.analysis")


def test_the_analysis_examples_parse() -> None:
    for example in _analysis_examples():
        if example["kind"] == "AnalysisRun":
            run = validation.parse_run(example)
            assert (run.terminate, len(run.template.metric_specs)) == (False, 1)
        else:
            template = validation.parse_template(example)
            assert template.metric_specs == tuple(example["spec"]["metrics"])


# -- in the simulator ---------------------------------------------------------------------


def test_analysis_examples_are_accepted(cluster: DynamicClient, scratch: str) -> None:
    for example in _analysis_examples():
        stored = _create(cluster, example, scratch)
        assert stored["spec"] == example["spec"], example["kind"]
        namespaced = example["kind"] != "ClusterAnalysisTemplate"
        assert ("namespace" in stored["metadata"]) is namespaced, example["kind"]


def _metric_at(index: int, *path_and_value: Any) -> Callable[[Obj], None]:
    def mutate(spec: Obj) -> None:
        _set(*path_and_value)(spec["metrics"][index])

    return mutate


def _provider(block: Obj) -> Callable[[Obj], None]:
    return _metric_at(0, "provider", block)


def _add_arg(arg: Obj) -> Callable[[Obj], None]:
    def mutate(spec: Obj) -> None:
        spec["args"].append(arg)

    return mutate


M0 = "spec.metrics[0]"
WEB = {"url": "http://x"}
INVALID_ANALYSIS: list[tuple[str, Callable[[Obj], None], int, str]] = [
    ("no-metrics", _set("metrics", []), 422, "spec.metrics in body should have at least 1 items"),
    ("no-provider", _provider({}), 422, f"{M0}.provider in body should have at least 1 prop"),
    (
        "two-providers",
        _provider({"web": WEB, "prometheus": {"address": "http://p", "query": "up"}}),
        422,
        f"{M0}.provider: Too many: 2",
    ),
    (
        "typo-provider",
        _provider({"prometeus": {}}),
        400,
        f'unknown field "{M0}.provider.prometeus"',
    ),
    ("typo-field", _metric_at(0, "sucessCondition", "true"), 400, f'unknown field "{M0}.sucess'),
    ("count-word", _metric_at(0, "count", "three"), 422, f"{M0}.count: Invalid value"),
    ("count-neg", _metric_at(0, "count", -1), 422, f"{M0}.count: Invalid value"),
    ("limit-neg", _metric_at(0, "failureLimit", -2), 422, f"{M0}.failureLimit: Invalid value"),
    ("days", _metric_at(0, "interval", "1d"), 422, f"{M0}.interval: Invalid value"),
    ("delay", _metric_at(0, "initialDelay", "soon"), 422, f"{M0}.initialDelay: Invalid value"),
    ("no-data", _metric_at(0, "noDataPolicy", "Ignore"), 422, f"{M0}.noDataPolicy: Unsupported"),
    ("range-empty", _metric_at(1, "thresholdRange", {}), 422, "thresholdRange in body should"),
    (
        "range-text",
        _metric_at(1, "thresholdRange", {"max": "high"}),
        422,
        "spec.metrics[1].thresholdRange.max: Invalid value",
    ),
    (
        "prom-address",
        _provider({"prometheus": {"address": "prometheus:9090", "query": "up"}}),
        422,
        f"{M0}.provider.prometheus.address: Invalid value",
    ),
    (
        "prom-no-query",
        _provider({"prometheus": {"address": "http://p"}}),
        422,
        f"{M0}.provider.prometheus.query: Required value",
    ),
    (
        "web-delete",
        _provider({"web": {**WEB, "method": "DELETE"}}),
        422,
        f"{M0}.provider.web.method: Unsupported value",
    ),
    (
        "web-header",
        _provider({"web": {**WEB, "headers": [{"key": "X"}]}}),
        422,
        f"{M0}.provider.web.headers[0].value: Required value",
    ),
    ("job-no-spec", _provider({"job": {}}), 422, f"{M0}.provider.job.spec: Required value"),
    (
        "dup-metric",
        _metric_at(1, "name", "success-rate"),
        422,
        "spec.metrics[1]: Duplicate value",
    ),
    (
        "arg-both",
        _add_arg({"name": "a", "value": "1", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}),
        422,
        'spec.args[3]" must not validate the schema (not)',
    ),
    (
        "arg-two-sources",
        _add_arg(
            {
                "name": "a",
                "valueFrom": {
                    "fieldRef": {"fieldPath": "x"},
                    "secretKeyRef": {"name": "s", "key": "k"},
                },
            }
        ),
        422,
        "spec.args[3].valueFrom: Too many: 2",
    ),
    (
        "arg-secret-key",
        _add_arg({"name": "a", "valueFrom": {"secretKeyRef": {"name": "s"}}}),
        422,
        "spec.args[3].valueFrom.secretKeyRef.key: Required value",
    ),
    (
        "retention-0",
        _set("measurementRetention", [{"metricName": "success-rate", "limit": 0}]),
        422,
        "spec.measurementRetention[0].limit: Invalid value",
    ),
    (
        "dry-run-typo",
        _set("dryRun", [{"metric": "x"}]),
        400,
        'unknown field "spec.dryRun[0].metric"',
    ),
]


@pytest.mark.parametrize(
    ("mutate", "status", "message"),
    [pytest.param(m, s, msg, id=name) for name, m, s, msg in INVALID_ANALYSIS],
)
def test_invalid_analysis_templates_are_rejected(
    cluster: DynamicClient,
    scratch: str,
    request: pytest.FixtureRequest,
    mutate: Callable[[Obj], None],
    status: int,
    message: str,
) -> None:
    template = _example("AnalysisTemplate")
    template["metadata"]["name"] = "bad-" + request.node.callspec.id
    mutate(template["spec"])
    got_status, body = _rejection(cluster, template, scratch)
    assert (got_status, message in body) == (status, True), body


def test_analysis_run_terminate_must_be_a_boolean(cluster: DynamicClient, scratch: str) -> None:
    run = _example("AnalysisRun")
    run["metadata"]["name"] = "terminate-yes"
    run["spec"]["terminate"] = "yes"
    status, body = _rejection(cluster, run, scratch)
    assert status == 422 and "spec.terminate: Invalid value" in body


def _no_secret(name: str, key: str) -> str:
    raise AssertionError("no secret to read")


def _no_field(path: str) -> str:
    raise AssertionError("fieldRefs were resolved when the run was created")


def test_the_run_status_ferry_writes_fits_the_crd(cluster: DynamicClient, scratch: str) -> None:
    example = _example("AnalysisTemplate")
    run = {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": "with-status"},
        "spec": arguments.run_spec(
            validation.parse_template(example),
            {"service-name": "podinfo"},
            field=lambda path: scratch,
        ),
    }
    _create(cluster, run, scratch)
    spec = validation.parse_run(run).template
    args = arguments.resolve_args(spec.args, {}, secret=_no_secret, field=_no_field)
    metrics = validation.metrics(spec, args)
    now = 1_750_000_000.0
    ok = measure(metrics[0], [0.99], started_at=now, finished_at=now + 1)
    bad = measure(metrics[0], [0.2], started_at=now + 30, finished_at=now + 31)
    error = Measurement(model.MeasurementPhase.ERROR, now + 60, now + 61, None, "timeout")
    flying = Measurement(
        model.MeasurementPhase.RUNNING, now + 90, resume_at=now + 100, metadata={"job": "j"}
    )
    cases = [
        ({"success-rate": [ok, error, flying], "error-budget": [ok]}, None, ""),
        ({"success-rate": [ok, bad, bad]}, model.AnalysisPhase.FAILED, "failed"),
        ({}, model.AnalysisPhase.SUCCESSFUL, "Run Terminated"),
    ]
    for measurements, phase, message in cases:
        status = decisions.run_status(metrics, measurements, phase, message, started_at=now)
        stored = _patch_status(cluster, "AnalysisRun", "with-status", scratch, status)
        assert stored["status"] == status, phase
    with pytest.raises(DynamicApiError) as caught:
        _patch_status(cluster, "AnalysisRun", "with-status", scratch, {"phase": "Done"})
    assert caught.value.status == 422 and "status.phase: Unsupported value" in _message(
        caught.value
    )


def _analysis_rollout(name: str) -> Obj:
    rollout = _minimal_rollout(name)
    canary = rollout["spec"]["strategy"]["canary"]
    canary["steps"].append(
        {
            "analysis": {
                "templates": [
                    {"templateName": "success-rate"},
                    {"templateName": "latency", "clusterScope": True},
                ],
                "args": [
                    {"name": "service-name", "value": "app"},
                    {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
                    {"name": "app", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                ],
            }
        }
    )
    canary["analysis"] = {
        "templates": [{"templateName": "success-rate"}],
        "args": [{"name": "service-name", "value": "app"}],
        "startingStep": 1,
    }
    canary["abortScaleDownDelaySeconds"] = 0
    rollout["spec"]["progressDeadlineAbort"] = True
    return rollout


def test_a_rollout_with_analysis_is_accepted_and_parses(
    cluster: DynamicClient, scratch: str
) -> None:
    rollout = _analysis_rollout("with-analysis")
    stored = _create(cluster, rollout, scratch)
    assert _contains(stored["spec"], rollout["spec"])
    spec = models.parse({**stored, "metadata": {"name": "with-analysis", "namespace": scratch}})
    assert spec.progress_deadline_abort is True and spec.abort_scale_down_delay == 0
    assert spec.background_analysis is not None and spec.background_analysis.starting_step == 1
    assert isinstance(spec.steps[1], models.Analysis)
