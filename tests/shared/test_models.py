"""Rollout spec parsing: valid specs, every kind of invalid spec, durations and derived names;
analysis steps, background analysis and the abort settings (abortScaleDownDelaySeconds,
progressDeadlineAbort) with their defaults and errors."""

from __future__ import annotations

from typing import Any

import pytest

from shared import models
from shared.routers import nginx


def rollout(**spec_overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": {"name": "podinfo", "port": 80, "targetPort": 9898},
        "trafficRouting": {"nginx": {"stableIngress": "podinfo"}},
        "strategy": {
            "canary": {
                "steps": [
                    {"setWeight": 20},
                    {"pause": {"duration": "2s"}},
                    {"setWeight": 50},
                    {"pause": {}},
                ]
            }
        },
    }
    spec.update(spec_overrides)
    return {"metadata": {"name": "podinfo", "namespace": "demo"}, "spec": spec}


def test_a_valid_rollout_parses_with_defaults_and_names() -> None:
    spec = models.parse(rollout())
    assert spec.steps == (
        models.SetWeight(20),
        models.Pause(2.0),
        models.SetWeight(50),
        models.Pause(None),
    )
    assert spec.progress_deadline == models.DEFAULT_PROGRESS_DEADLINE
    assert (spec.router, spec.routing) == ("nginx", {"stableIngress": "podinfo"})
    assert nginx.config(spec).annotation_prefix == "nginx.ingress.kubernetes.io"
    assert (spec.primary, spec.primary_service, spec.canary_service) == (
        "podinfo-primary",
        "podinfo-primary",
        "podinfo-canary",
    )
    assert nginx.canary_ingress(spec) == "podinfo-canary"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("500ms", 0.5), ("45", 45), (7, 7)],
)
def test_durations(text: Any, seconds: float) -> None:
    assert models.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "1d", "-3", "s", True, -1, "1h-5m"])
def test_bad_durations_are_refused(text: Any) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        models.parse_duration(text)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"targetRef": None}, "spec.targetRef is required"),
        ({"targetRef": {"name": "x", "kind": "StatefulSet"}}, "must be Deployment"),
        ({"strategy": {"canary": {"steps": [{"setWeight": 150}]}}}, "from 0 to 100"),
        ({"strategy": {"canary": {"steps": [{"setWeight": 10, "pause": {}}]}}}, "exactly one"),
        ({"strategy": {"canary": {"steps": [{"bakeTime": {}}]}}}, "unknown step 'bakeTime'"),
        (
            {"strategy": {"canary": {"steps": [{"experiment": {}}]}}},
            "experiment.templates must list at least one template",
        ),
        (
            {
                "strategy": {
                    "canary": {
                        "steps": [
                            {
                                "experiment": {
                                    "templates": [
                                        {"name": "b", "specRef": "latest"},
                                        {"name": "c", "specRef": "canary", "weight": 5},
                                    ]
                                }
                            }
                        ]
                    }
                }
            },
            "specRef must be stable or canary, got 'latest'",
        ),
        ({"strategy": {"canary": {"steps": [{"pause": {"duration": "soon"}}]}}}, "duration"),
        ({"service": {"name": "Bad_Name", "port": 80}}, "not a valid Kubernetes name"),
        ({"service": {"name": "podinfo", "port": 0}}, "port number"),
        ({"progressDeadlineSeconds": 0}, "positive integer"),
        ({"trafficRouting": {}}, "spec.trafficRouting must name exactly one router"),
    ],
)
def test_invalid_specs_say_what_is_wrong(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(models.InvalidSpec) as info:
        models.parse(rollout(**overrides))
    assert problem in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(models.InvalidSpec) as info:
        models.parse(rollout(targetRef=None, progressDeadlineSeconds=-5))
    assert len(info.value.problems) == 2


ANALYSIS_STEP = {
    "analysis": {
        "templates": [
            {"templateName": "success-rate"},
            {"templateName": "latency", "clusterScope": True},
        ],
        "args": [
            {"name": "service", "value": "podinfo"},
            {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
            {"name": "app", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        ],
    }
}


def test_analysis_steps_background_analysis_and_abort_settings_parse() -> None:
    spec = models.parse(
        rollout(
            strategy={
                "canary": {
                    "steps": [{"setWeight": 20}, ANALYSIS_STEP],
                    "analysis": {
                        "templates": [{"templateName": "success-rate"}],
                        "startingStep": 1,
                    },
                    "abortScaleDownDelaySeconds": 0,
                }
            },
            progressDeadlineAbort=True,
        )
    )
    assert spec.steps[1] == models.Analysis(
        templates=(models.TemplateRef("success-rate"), models.TemplateRef("latency", True)),
        args=(
            models.AnalysisArg("service", value="podinfo"),
            models.AnalysisArg("canary-hash", pod_template_hash="Latest"),
            models.AnalysisArg("app", field_path="metadata.labels['app']"),
        ),
    )
    assert spec.background_analysis == models.BackgroundAnalysis(
        (models.TemplateRef("success-rate"),), (), starting_step=1
    )
    assert (spec.abort_scale_down_delay, spec.progress_deadline_abort) == (0, True)


def test_analysis_settings_default_as_argo() -> None:
    spec = models.parse(rollout())
    assert spec.background_analysis is None
    assert spec.abort_scale_down_delay == models.DEFAULT_ABORT_SCALE_DOWN_DELAY == 30
    assert spec.progress_deadline_abort is False


def _canary(**canary: Any) -> dict[str, Any]:
    return {"strategy": {"canary": {"steps": [{"setWeight": 10}], **canary}}}


def _analysis_step(**analysis: Any) -> dict[str, Any]:
    return _canary(steps=[{"analysis": analysis}])


TEMPLATES = [{"templateName": "t"}]


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        (_analysis_step(templates=[]), "steps[0].analysis.templates must list at least one"),
        (_analysis_step(), "steps[0].analysis.templates must list at least one"),
        (_analysis_step(templates=[{"templateName": "Bad_Name"}]), "not a valid Kubernetes"),
        (_analysis_step(templates=[{"templateName": "t", "clusterScope": "yes"}]), "clusterSc"),
        (_analysis_step(templates=TEMPLATES, dryRun=[]), "must be {templates: [...], args"),
        (
            _analysis_step(
                templates=TEMPLATES, args=[{"name": "a", "value": "1", "valueFrom": {}}]
            ),
            "args[0] must have exactly one of value, valueFrom",
        ),
        (_analysis_step(templates=TEMPLATES, args=[{"name": "a"}]), "exactly one of value"),
        (
            _analysis_step(
                templates=TEMPLATES,
                args=[{"name": "a", "valueFrom": {"podTemplateHashValue": "Canary"}}],
            ),
            "podTemplateHashValue must be Stable or Latest, got 'Canary'",
        ),
        (
            _analysis_step(
                templates=TEMPLATES, args=[{"name": "a", "valueFrom": {"secretKeyRef": {}}}]
            ),
            "unknown source 'secretKeyRef' (known: podTemplateHashValue, fieldRef)",
        ),
        (
            _analysis_step(
                templates=TEMPLATES, args=[{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]
            ),
            "args[1].name 'a' is given twice",
        ),
        (_canary(analysis={"templates": TEMPLATES, "startingStep": 1}), "past the last step"),
        (_canary(analysis={"templates": TEMPLATES, "startingStep": -1}), "must be a step index"),
        (_canary(analysis={"templates": []}), "canary.analysis.templates must list at least one"),
        (_canary(abortScaleDownDelaySeconds=-1), "abortScaleDownDelaySeconds must be a number"),
        (_canary(abortScaleDownDelaySeconds="30s"), "abortScaleDownDelaySeconds must be a number"),
        ({"progressDeadlineAbort": "yes"}, "spec.progressDeadlineAbort must be true or false"),
        (
            _canary(steps=[{"bakeTime": {}}]),
            "(known: setWeight, pause, analysis, experiment, setHeaderRoute, setMirrorRoute, "
            "setCookieRoute, load)",
        ),
    ],
)
def test_invalid_analysis_settings_say_what_is_wrong(
    overrides: dict[str, Any], problem: str
) -> None:
    with pytest.raises(models.InvalidSpec) as info:
        models.parse(rollout(**overrides))
    assert problem in str(info.value)
