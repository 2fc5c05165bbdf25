"""Rollout spec parsing: valid specs, every kind of invalid spec, durations and derived names."""

from __future__ import annotations

from typing import Any

import pytest

from shared import models


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
    assert spec.nginx.annotation_prefix == "nginx.ingress.kubernetes.io"
    assert (spec.primary, spec.primary_service, spec.canary_service, spec.canary_ingress) == (
        "podinfo-primary",
        "podinfo-primary",
        "podinfo-canary",
        "podinfo-canary",
    )


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
        ({"strategy": {"canary": {"steps": [{"experiment": {}}]}}}, "unknown step 'experiment'"),
        ({"strategy": {"canary": {"steps": [{"pause": {"duration": "soon"}}]}}}, "duration"),
        ({"service": {"name": "Bad_Name", "port": 80}}, "not a valid Kubernetes name"),
        ({"service": {"name": "podinfo", "port": 0}}, "port number"),
        ({"progressDeadlineSeconds": 0}, "positive integer"),
        ({"trafficRouting": {}}, "trafficRouting.nginx is required"),
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
