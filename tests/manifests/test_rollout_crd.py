"""The Rollout CRD: its names and schema, and what the API server accepts with it.

Covered: name, group, scope, short name, category, version, the status subresource and the
printer columns (pointing at declared fields of their type); a structural, fully typed schema
whose defaults are valid and applied; the example Rollout accepted; pause durations accepted in
every form Ferry reads; invalid Rollouts rejected with the field at fault (weights, steps,
pauses, targets, services, routers, analysis steps and arguments, deadlines); unknown step keys
pruned before counting without strict validation; the status schema, with the commands kubectl
ferry appends and the history and analysis Ferry writes; the status ``shared.status`` writes
fits the CRD for every stage.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError

from shared import schemas
from shared import status as rollout_status
from shared.state import RolloutState, Stage
from tests.manifests.helpers import (
    Obj,
    _contains,
    _create,
    _manifest,
    _message,
    _patch_status,
    _rejection,
    _rollout_crd,
    _rollout_schema,
    _schema_nodes,
)
from tests.manifests.objects import _drop, _minimal_rollout, _set, _step

# -- read ---------------------------------------------------------------------------------


def test_rollout_crd_names_and_version() -> None:
    crd = _rollout_crd()
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "rollouts.ferry.dev"
    assert (spec["group"], spec["scope"]) == ("ferry.dev", "Namespaced")
    assert spec["names"]["shortNames"] == ["ro"] and spec["names"]["categories"] == ["ferry"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert [(c["name"], c["jsonPath"]) for c in version["additionalPrinterColumns"]] == [
        ("Phase", ".status.phase"),
        ("Step", ".status.currentStepIndex"),
        ("Weight", ".status.canaryWeight"),
        ("Active", ".status.blueGreen.activeRevision"),
        ("Preview", ".status.blueGreen.previewRevision"),
        ("Age", ".metadata.creationTimestamp"),
    ]


def test_rollout_schema_is_structural_and_fully_typed() -> None:
    for path, node in _schema_nodes(_rollout_schema()):
        where = path or "<root>"
        assert "x-kubernetes-preserve-unknown-fields" not in node, where
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, where
            continue
        assert node.get("type") in {"object", "array", "string", "integer", "boolean"}, where
        if node["type"] == "array":
            assert isinstance(node.get("items"), dict), where
        if node["type"] == "object" and path != ".metadata":
            has_props, has_extra = "properties" in node, "additionalProperties" in node
            assert has_props != has_extra, f"{where}: properties xor additionalProperties"
        for key in node.get("required") or ():
            assert key in node.get("properties", {}), f"{where}: required {key} undeclared"


def test_rollout_schema_defaults_are_valid() -> None:
    defaults = [(p, n) for p, n in _schema_nodes(_rollout_schema()) if "default" in n]
    assert {p for p, _ in defaults} == {
        ".spec.targetRef.apiVersion",
        ".spec.targetRef.kind",
        ".spec.trafficRouting.nginx.annotationPrefix",
        ".spec.progressDeadlineSeconds",
        ".spec.progressDeadlineAbort",
        ".spec.strategy.canary.abortScaleDownDelaySeconds",
        ".spec.strategy.blueGreen.abortScaleDownDelaySeconds",
        ".spec.strategy.blueGreen.scaleDownDelaySeconds",
        ".spec.revisionHistoryLimit",
    }
    for path, node in defaults:
        assert schemas.validate(node["default"], node) == [], path


def test_rollout_printer_columns_point_at_declared_fields_of_their_type() -> None:
    schema = _rollout_schema()
    version = _rollout_crd()["spec"]["versions"][0]
    for column in version["additionalPrinterColumns"]:
        if column["jsonPath"].startswith(".metadata."):
            continue
        node = schema
        for part in column["jsonPath"].lstrip(".").split("."):
            node = node["properties"][part]
        assert node["type"] == column["type"], column["name"]


# -- in the simulator ---------------------------------------------------------------------


def test_the_example_rollout_is_accepted(cluster: DynamicClient, scratch: str) -> None:
    (example,) = _manifest("examples/rollout.yaml")
    stored = _create(cluster, example, scratch)
    assert _contains(stored["spec"], example["spec"])
    nginx = stored["spec"]["trafficRouting"]["nginx"]
    assert nginx["annotationPrefix"] == "nginx.ingress.kubernetes.io"


def test_rollout_defaults_are_applied(cluster: DynamicClient, scratch: str) -> None:
    spec = _create(cluster, _minimal_rollout("defaults"), scratch)["spec"]
    assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"}
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["progressDeadlineAbort"] is False
    assert spec["strategy"]["canary"]["abortScaleDownDelaySeconds"] == 30
    assert spec["trafficRouting"]["nginx"]["annotationPrefix"] == "nginx.ingress.kubernetes.io"


@pytest.mark.parametrize("duration", [30, 0, "30", "30s", "5m", "1h", "1h30m", "500ms", "1.5h"])
def test_pause_durations_accepted(cluster: DynamicClient, scratch: str, duration: Any) -> None:
    rollout = _minimal_rollout(f"pause-{type(duration).__name__}-{duration}".replace(".", "-"))
    rollout["spec"]["strategy"]["canary"]["steps"].append({"pause": {"duration": duration}})
    assert _create(cluster, rollout, scratch)["spec"]["strategy"]["canary"]["steps"][1] == {
        "pause": {"duration": duration}
    }


STEP = "spec.strategy.canary.steps[0]"
ANALYSIS: Obj = {"templates": [{"templateName": "success-rate"}]}
HASH: Obj = {"valueFrom": {"podTemplateHashValue": "Stable"}}
INVALID_ROLLOUTS: list[tuple[str, Callable[[Obj], None], int, str]] = [
    ("weight-150", _step(0, {"setWeight": 150}), 422, f"{STEP}.setWeight: Invalid value: 150"),
    ("weight-neg", _step(0, {"setWeight": -1}), 422, f"{STEP}.setWeight: Invalid value: -1"),
    ("two-keys", _step(0, {"setWeight": 20, "pause": {}}), 422, f"{STEP}: Too many: 2"),
    ("empty-step", _step(0, {}), 422, "steps[0] in body should have at least 1 properties"),
    ("typo-step", _step(0, {"setWeigth": 20}), 400, f'unknown field "{STEP}.setWeigth"'),
    ("bad-pause", _step(0, {"pause": {"duration": "30 seconds"}}), 422, f"{STEP}.pause.duration"),
    ("days", _step(0, {"pause": {"duration": "1d"}}), 422, f"{STEP}.pause.duration"),
    ("neg-pause", _step(0, {"pause": {"duration": -5}}), 422, f"{STEP}.pause.duration"),
    ("no-target", _drop("targetRef"), 422, "spec.targetRef: Required value"),
    ("no-router", _set("trafficRouting", {}), 422, "should have at least 1 properties"),
    ("no-name", _drop("targetRef", "name"), 422, "spec.targetRef.name: Required value"),
    ("sts", _set("targetRef", "kind", "StatefulSet"), 422, "spec.targetRef.kind: Unsupported"),
    ("no-port", _drop("service", "port"), 422, "spec.service.port: Required value"),
    ("port-str", _set("service", "port", "http"), 422, "spec.service.port: Invalid value"),
    ("svc-case", _set("service", "name", "App"), 422, "spec.service.name: Invalid value"),
    ("svc-long", _set("service", "name", "a" * 56), 422, "spec.service.name: Too long"),
    ("no-strategy", _set("strategy", {}), 422, "strategy in body should have at least 1 prop"),
    ("deadline-0", _set("progressDeadlineSeconds", 0), 422, "spec.progressDeadlineSeconds"),
    ("nginx-no-ing", _set("trafficRouting", {"nginx": {}}), 422, "stableIngress: Required"),
    ("analysis-empty", _step(0, {"analysis": {"templates": []}}), 422, f"{STEP}.analysis.templ"),
    ("analysis-none", _step(0, {"analysis": {}}), 422, f"{STEP}.analysis.templates: Required"),
    (
        "analysis-and-weight",
        _step(0, {"setWeight": 10, "analysis": ANALYSIS}),
        422,
        f"{STEP}: Too many: 2",
    ),
    (
        "arg-both",
        _step(0, {"analysis": {**ANALYSIS, "args": [{"name": "a", "value": "1", **HASH}]}}),
        422,
        f'{STEP}.analysis.args[0]" must not validate the schema (not)',
    ),
    (
        "hash-canary",
        _step(
            0,
            {
                "analysis": {
                    **ANALYSIS,
                    "args": [{"name": "a", "valueFrom": {"podTemplateHashValue": "Canary"}}],
                }
            },
        ),
        422,
        f"{STEP}.analysis.args[0].valueFrom.podTemplateHashValue: Unsupported value",
    ),
    (
        "bg-start-neg",
        _set("strategy", "canary", "analysis", {**ANALYSIS, "startingStep": -1}),
        422,
        "spec.strategy.canary.analysis.startingStep: Invalid value",
    ),
    (
        "abort-delay-neg",
        _set("strategy", "canary", "abortScaleDownDelaySeconds", -1),
        422,
        "spec.strategy.canary.abortScaleDownDelaySeconds: Invalid value",
    ),
    ("abort-str", _set("progressDeadlineAbort", "yes"), 422, "spec.progressDeadlineAbort: Invalid"),
    (
        "annotation-int",
        _set(
            "trafficRouting",
            {"nginx": {"stableIngress": "a", "additionalIngressAnnotations": {"x": 1}}},
        ),
        422,
        "spec.trafficRouting.nginx.additionalIngressAnnotations.x: Invalid value",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "status", "message"),
    [pytest.param(m, s, msg, id=name) for name, m, s, msg in INVALID_ROLLOUTS],
)
def test_invalid_rollouts_are_rejected(
    cluster: DynamicClient,
    scratch: str,
    request: pytest.FixtureRequest,
    mutate: Callable[[Obj], None],
    status: int,
    message: str,
) -> None:
    rollout = _minimal_rollout("bad-" + request.node.callspec.id)
    mutate(rollout["spec"])
    got_status, body = _rejection(cluster, rollout, scratch)
    assert (got_status, message in body) == (status, True), body


def test_unknown_step_keys_are_pruned_before_counting_without_strict_validation(
    cluster: DynamicClient, scratch: str
) -> None:
    rollout = _minimal_rollout("lenient")
    rollout["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 20, "typo": 1}]
    stored = _create(cluster, rollout, scratch, strict=False)
    assert stored["spec"]["strategy"]["canary"]["steps"] == [{"setWeight": 20}]


def test_rollout_without_spec_is_rejected(cluster: DynamicClient, scratch: str) -> None:
    rollout = _minimal_rollout("no-spec")
    del rollout["spec"]
    status, body = _rejection(cluster, rollout, scratch)
    assert status == 422 and "spec: Required value" in body


def test_rollout_status_schema(cluster: DynamicClient, scratch: str) -> None:
    _create(cluster, _minimal_rollout("with-status"), scratch)
    patch = functools.partial(_patch_status, cluster, "Rollout", "with-status", scratch)

    valid = {
        "phase": "Paused",
        "message": "paused at step 1",
        "observedGeneration": 1,
        "stableRevision": "5d8f",
        "canaryRevision": "77c1",
        "currentStepIndex": 1,
        "canaryWeight": 20,
        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2025-01-01T00:00:00Z"}],
        "conditions": [
            {
                "type": "Progressing",
                "status": "True",
                "reason": "RolloutPaused",
                "message": "",
                "lastTransitionTime": "2025-01-01T00:00:00Z",
                "lastUpdateTime": "2025-01-01T00:00:00Z",
            }
        ],
    }
    assert patch(valid)["status"] == valid
    for field, value, message in [
        ("phase", "Running", "status.phase: Unsupported value"),
        ("canaryWeight", 101, "status.canaryWeight: Invalid value"),
        ("pauseConditions", [{"reason": "x", "startTime": "now"}], "startTime: Invalid value"),
        ("pauseConditions", [{"reason": "x"}], "status.pauseConditions[0].startTime: Required"),
        ("conditions", [{"type": "Ready", "status": "yes"}], "status.conditions[0].status"),
        (
            "conditions",
            [{"type": "Ready", "status": "True"}, {"type": "Ready", "status": "False"}],
            "status.conditions[1]: Duplicate value",
        ),
    ]:
        with pytest.raises(DynamicApiError) as caught:
            patch({**valid, field: value})
        assert caught.value.status == 422 and message in _message(caught.value), field


def test_rollout_status_holds_commands_history_and_analysis(
    cluster: DynamicClient, scratch: str
) -> None:
    # The manual-control protocol: kubectl ferry appends commands, Ferry answers in history.
    _create(cluster, _minimal_rollout("controlled"), scratch)
    patch = functools.partial(_patch_status, cluster, "Rollout", "controlled", scratch)

    at = "2025-01-01T00:00:00Z"
    command = {"id": "c1", "action": "promote", "full": False, "user": "alice", "time": at}
    valid = {
        "commands": [command, {**command, "id": "c2", "action": "abort"}],
        "history": [
            {"time": at, "note": "step 1/2"},
            {"time": at, "note": "promoted by alice: step 2/2", "user": "alice", "command": "c1"},
        ],
        "analysis": [{"name": "run-1", "kind": "step", "phase": "Running", "message": ""}],
        "pauseConditions": [{"reason": "PausedByUser", "startTime": at, "message": "by alice"}],
    }
    assert patch(valid)["status"] == valid
    twenty_one = [{**command, "id": f"c{i}"} for i in range(21)]
    for field, value, message in [
        ("commands", [{**command, "action": "rollback"}], "status.commands[0].action: Unsupported"),
        ("commands", [command, command], "status.commands[1]: Duplicate value"),
        ("commands", twenty_one, "status.commands: Too many: 21"),
        ("commands", [{**command, "time": "now"}], "status.commands[0].time: Invalid value"),
        ("commands", [{"id": "c3", "action": "retry"}], "status.commands[0].user: Required"),
        ("history", [{"time": at}], "status.history[0].note: Required value"),
        ("analysis", [{"name": "r", "kind": "side"}], "status.analysis[0].kind: Unsupported"),
        ("analysis", [{"name": "r", "kind": "step", "phase": "Done"}], "phase: Unsupported"),
    ]:
        with pytest.raises(DynamicApiError) as caught:
            patch({**valid, field: value})
        assert caught.value.status == 422 and message in _message(caught.value), field


def test_the_status_ferry_writes_fits_the_crd(cluster: DynamicClient, scratch: str) -> None:
    _create(cluster, _minimal_rollout("mirrored"), scratch)
    now = 1_750_000_000.0
    for stage in Stage:
        state = RolloutState(
            scratch,
            "mirrored",
            stage=stage,
            message="m",
            reason="r",
            stable_revision="5d8f",
            canary_revision="77c1",
            step=2,
            weight=50,
            pause_until=now + 30 if stage == Stage.PAUSED else 0.0,
            pause_started=now,
            stage_since=now,
            generation=3,
        )
        status = rollout_status.of(state, now)
        stored = _patch_status(cluster, "Rollout", "mirrored", scratch, status)
        assert stored["status"] == status, stage
