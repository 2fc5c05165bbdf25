"""An Experiment's spec and what it runs, without a cluster: validation messages, Argo's
defaults, the labels and hashes of its Pods, the Experiment a Rollout's step makes."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import models, workloads
from shared.experiments import spec as experiments
from shared.experiments import stacks, steps
from shared.models import InvalidSpec
from shared.state import RolloutState

LABELS = {"app": "canary-demo", "color": "purple"}


def template(name: str = "purple", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "selector": {"matchLabels": dict(LABELS)},
        "template": {
            "metadata": {"labels": dict(LABELS)},
            "spec": {"containers": [{"name": "demo", "image": f"demo:{name}"}]},
        },
        **extra,
    }


def experiment(**spec: Any) -> dict[str, Any]:
    body = {"templates": [template()], **spec}
    return {
        "apiVersion": models.API_VERSION,
        "kind": "Experiment",
        "metadata": {"name": "example", "namespace": "default", "uid": "u-1"},
        "spec": body,
    }


def test_argo_defaults_apply() -> None:
    parsed = experiments.parse(experiment())
    assert parsed.duration is None
    assert parsed.progress_deadline == 600
    assert parsed.scale_down_delay == 30
    assert not parsed.terminate
    (only,) = parsed.templates
    assert only.replicas == 1 and only.service == ""
    assert parsed.deployment("purple") == "example-purple"


def test_durations_and_required_analyses_are_read() -> None:
    parsed = experiments.parse(
        experiment(
            duration="1h30m",
            analyses=[
                {"name": "a", "templateName": "t", "requiredForCompletion": True},
                {"name": "b", "templateName": "t", "clusterScope": True},
            ],
        )
    )
    assert parsed.duration == 5400
    assert parsed.required == ("a",)
    assert parsed.analyses[1].template == models.TemplateRef("t", True)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"templates": []}, "spec.templates must list at least one template"),
        ({"duration": "soon"}, "spec.duration: invalid duration 'soon'"),
        ({"progressDeadlineSeconds": 0}, "spec.progressDeadlineSeconds must be a positive"),
        ({"terminate": "yes"}, "spec.terminate must be true or false"),
        ({"dryRun": []}, "spec has unknown fields ['dryRun']"),
        (
            {"templates": [template(selector={"matchLabels": {"app": "other"}})]},
            "does not match the template's labels",
        ),
        ({"templates": [template(), template()]}, "'purple' is given twice"),
        ({"templates": [template(weight=5)]}, "weight and specRef belong to a Rollout's"),
        ({"templates": [template(replicas=-1)]}, "replicas must be a whole number"),
        ({"templates": [template(service={"name": "Not_A_Name"})]}, "not a valid Service name"),
        ({"templates": [{"name": "x", "template": {}}]}, "must be a pod template"),
        (
            {
                "analyses": [
                    {
                        "name": "a",
                        "templateName": "t",
                        "args": [{"name": "h", "value": "{{templates.orange.podTemplateHash}}"}],
                    }
                ]
            },
            "names template 'orange', which is not in spec.templates",
        ),
        (
            {
                "analyses": [
                    {
                        "name": "a",
                        "templateName": "t",
                        "args": [{"name": "h", "valueFrom": {"podTemplateHashValue": "Stable"}}],
                    }
                ]
            },
            "{{templates.NAME.podTemplateHash}}",
        ),
        ({"analyses": [{"name": "a"}]}, "spec.analyses[0].templateName is required"),
    ],
)
def test_invalid_specs_say_what_is_wrong(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        experiments.parse(experiment(**spec))
    assert message in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidSpec) as caught:
        experiments.parse(experiment(duration="soon", terminate="yes", templates=[]))
    assert len(caught.value.problems) == 3


def test_a_long_name_cannot_label_its_pods() -> None:
    body = experiment()
    body["metadata"]["name"] = "x" * 64
    with pytest.raises(InvalidSpec, match="longer than 63"):
        experiments.parse(body)


def test_each_template_runs_apart_with_its_own_hash() -> None:
    body = experiment(templates=[template("purple"), template("orange", service={})])
    body["spec"]["templates"][1]["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "http", "containerPort": 8080}
    ]
    parsed = experiments.parse(body)
    purple, orange = parsed.templates
    hashes = stacks.hashes(parsed)
    assert hashes["purple"] != hashes["orange"]
    deployment = stacks.deployment(parsed, orange, body)
    assert deployment["metadata"]["name"] == "example-orange"
    assert deployment["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert selector[experiments.LABEL] == "example"
    assert selector[experiments.TEMPLATE_LABEL] == "orange"
    assert pod_labels[experiments.HASH_LABEL] == hashes["orange"]
    service = stacks.service(parsed, orange, body)
    assert service is not None and service["metadata"]["name"] == "example-orange"
    assert service["spec"]["ports"][0]["port"] == 8080
    assert stacks.service(parsed, purple, body) is None


def test_template_hashes_fill_the_arguments() -> None:
    args = (
        models.AnalysisArg("a", value="{{ templates.baseline.podTemplateHash }}"),
        models.AnalysisArg("b", value="x-{{templates.canary.podTemplateHash}}"),
        models.AnalysisArg("c", field_path="metadata.name"),
    )
    filled = experiments.with_hashes(args, {"baseline": "111", "canary": "222"})
    assert [a.value for a in filled] == ["111", "x-222", None]
    assert filled[2].field_path == "metadata.name"


# -- a Rollout's experiment step ------------------------------------------------------------


def deployment(name: str, labels: dict[str, str], image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {
                    "labels": dict(labels),
                    "annotations": {workloads.REVISION_ANNOTATION: "abc"},
                },
                "spec": {"containers": [{"name": "podinfo", "image": image}]},
            },
        },
    }


ROLLOUT = {
    "apiVersion": models.API_VERSION,
    "kind": "Rollout",
    "metadata": {"name": "podinfo", "namespace": "default", "uid": "r-1"},
    "spec": {"service": {"port": 80}},
}
STEP = models.Experiment(
    templates=(
        models.ExperimentTemplate("baseline", "stable"),
        models.ExperimentTemplate("canary", "canary", replicas=2, service=True),
    ),
    analyses=(
        models.ExperimentAnalysis(
            "compare",
            models.TemplateRef("mann-whitney"),
            (
                models.AnalysisArg("canary-hash", value="{{templates.canary.podTemplateHash}}"),
                models.AnalysisArg("port", field_path="spec.service.port"),
            ),
            required=True,
        ),
    ),
    duration=3600,
)


TARGET = {"app": "podinfo"}


def made(
    step: models.Experiment,
    *,
    stable: dict[str, Any] | None,
    index: int = 0,
    state: RolloutState | None = None,
    service: models.ServiceSpec | None = None,
) -> dict[str, Any]:
    """The Experiment ``step`` makes, the canary being podinfo:2."""
    return steps.experiment(
        ROLLOUT,
        state or RolloutState("default", "podinfo", canary_revision="0123456789", attempt=1),
        index,
        step,
        stable=stable,
        canary=deployment("podinfo", TARGET, "podinfo:2"),
        progress_deadline=120,
        service=service or models.ServiceSpec("podinfo", 80, 80),
    )


def step_experiment(state: RolloutState) -> dict[str, Any]:
    primary = deployment("podinfo-primary", {"app": "podinfo-primary"}, "podinfo:1")
    service = models.ServiceSpec("podinfo", 80, "http")
    return made(STEP, stable=primary, index=1, state=state, service=service)


def test_a_step_makes_an_experiment_its_parser_accepts_with_pods_kept_from_traffic() -> None:
    state = RolloutState("default", "podinfo", canary_revision="0123456789", attempt=2)
    obj = step_experiment(state)
    assert obj["metadata"]["name"] == "podinfo-0123456-2-1"
    assert obj["metadata"]["ownerReferences"][0]["uid"] == "r-1"
    assert steps.owned_by(obj, ROLLOUT)
    assert not steps.owned_by(obj, {**ROLLOUT, "metadata": {"uid": "other"}})
    parsed = experiments.parse(copy.deepcopy(obj))
    assert parsed.duration == 3600 and obj["spec"]["duration"] == "3600s"
    assert parsed.scale_down_delay == 0  # the step is over when it ends
    assert parsed.progress_deadline == 120
    baseline, canary = parsed.templates
    assert baseline.template["spec"]["containers"][0]["image"] == "podinfo:1"
    assert canary.template["spec"]["containers"][0]["image"] == "podinfo:2"
    assert baseline.selector == {"app": "podinfo-baseline"}
    assert canary.selector == {"app": "podinfo-canary"} and canary.replicas == 2
    assert canary.service == "podinfo-0123456-2-1-canary"  # asked for: on the rollout's port
    assert (canary.port, canary.target_port) == (80, "http")
    assert baseline.service == ""
    annotations = baseline.template["metadata"]["annotations"]
    assert workloads.REVISION_ANNOTATION not in annotations
    (analysis,) = parsed.analyses
    assert analysis.required
    assert [a.value for a in analysis.args] == ["{{templates.canary.podTemplateHash}}", "80"]


def test_a_step_without_a_stable_deployment_cannot_run_its_baseline() -> None:
    state = RolloutState("default", "podinfo", canary_revision="0123456789", attempt=1)
    with pytest.raises(InvalidSpec, match="stable revision has no Deployment"):
        made(STEP, stable=None, state=state)


@given(
    name=st.from_regex(r"[a-z]([-a-z0-9]{0,251}[a-z0-9])?", fullmatch=True),
    attempt=st.integers(min_value=0, max_value=10**6),
    index=st.integers(min_value=0, max_value=999),
)
def test_step_experiment_names_fit_a_label_value(name: str, attempt: int, index: int) -> None:
    state = RolloutState("default", name, canary_revision="0123456789", attempt=attempt)
    found = steps.name(state, index)
    assert len(found) <= experiments.MAX_NAME
    assert found.endswith(f"-0123456-{attempt}-{index}")
    assert found[0].isalnum() and found[-1].isalnum()


def test_long_step_durations_are_written_as_parsed() -> None:
    state = RolloutState("default", "podinfo", canary_revision="0123456789", attempt=1)
    target = deployment("podinfo", {"app": "podinfo"}, "podinfo:2")
    for duration in (1_080_000.0, 0.25, 90.5):
        step = models.Experiment(STEP.templates, (), duration)
        obj = made(step, stable=target, state=state)
        assert experiments.parse(obj).duration == duration


def test_a_weighted_template_gets_a_service_and_its_pods_stay_until_traffic_left() -> None:
    weighted = models.Experiment(
        (models.ExperimentTemplate("canary", "canary", weight=5, service=True),), (), 60
    )
    state = RolloutState("default", "podinfo", canary_revision="0123456789", attempt=1)
    target = deployment("podinfo", {"app": "podinfo"}, "podinfo:2")
    obj = made(weighted, stable=target, state=state, service=models.ServiceSpec("p", 80, 9898))
    parsed = experiments.parse(obj)
    assert parsed.scale_down_delay == experiments.DEFAULT_SCALE_DOWN_DELAY
    (template,) = parsed.templates
    obj["metadata"]["uid"] = "e-1"
    service = stacks.service(parsed, template, obj)
    assert service is not None
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 9898, "protocol": "TCP"}
    ]


def test_service_names_of_long_step_experiments_stay_dns_labels() -> None:
    long = steps.service_name("x" * 63, "baseline")
    assert len(long) <= 63 and long[-1].isalnum()
    assert long != steps.service_name("x" * 63, "canary")
    assert steps.service_name("short", "canary") == "short-canary"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "templates",
        "analyses",
        "duration",
        "terminate",
        "progressDeadlineSeconds",
        "name",
        "template",
        "selector",
        "service",
        "metadata",
        "labels",
        "spec",
        "matchLabels",
        "args",
    ]
)
SHAPED = st.recursive(
    JSON,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)


@given(spec=SHAPED)
def test_any_spec_is_parsed_or_refused_with_invalid_spec(spec: Any) -> None:
    """Whatever an Experiment's spec holds (a user's object, stored with its pod templates as
    written), it is parsed or refused with the problems: never another error (a 5xx loop)."""
    body = {"metadata": {"name": "e", "namespace": "default"}, "spec": spec}
    with contextlib.suppress(InvalidSpec):
        experiments.parse(body)
