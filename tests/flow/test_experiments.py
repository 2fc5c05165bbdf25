"""Experiments end to end (Argo Rollouts' ``Experiment``, translated from its documentation),
through the API server and the whole local runtime: templates run side by side as Deployments,
analyses judge each, the experiment ends and what it ran is removed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local import demo
from local.runtime import KNATIVE_DIR, Runtime
from local.sim.cluster import Simulator
from shared import events, models
from shared.events import RolloutRef, Type
from shared.kube import Kube
from shared.state import Stage
from tests.flow import test_downtime as downtime
from tests.flow.conftest import (
    FAST,
    Demo,
    JsonEndpoint,
    eventually,
    post_to,
    publish,
    run_cli,
    settle,
)

NS = demo.NAMESPACE


class Verdicts:
    """One real HTTP endpoint answering each version's web metric at ``/<version>``:
    ``{"ok": 1}`` unless told that version is bad; counts the requests of each."""

    def __init__(self) -> None:
        self.bad: set[str] = set()
        self.endpoint = JsonEndpoint(by_path=lambda path: {"ok": 0 if path[1:] in self.bad else 1})
        self.base = self.endpoint.base

    def hits(self, version: str) -> int:
        return self.endpoint.paths.count(f"/{version}")

    def stop(self) -> None:
        self.endpoint.stop()


@pytest.fixture
def verdicts() -> Iterator[Verdicts]:
    found = Verdicts()
    try:
        yield found
    finally:
        found.stop()


def http_benchmark(verdicts: Verdicts) -> dict[str, Any]:
    """Argo's ``http-benchmark`` template, as a web metric on the version's endpoint: the
    version comes in as the ``host`` argument."""
    base = verdicts.base
    return {
        "apiVersion": models.API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {"name": "http-benchmark", "namespace": NS},
        "spec": {
            "args": [{"name": "host"}],
            "metrics": [
                {
                    "name": "ok",
                    "interval": "200ms",
                    "count": 2,
                    "successCondition": "result == 1",
                    "failureLimit": 0,
                    "provider": {
                        "web": {
                            "url": f"{base}/{{{{args.host}}}}",
                            "jsonPath": "{$.ok}",
                        }
                    },
                }
            ],
        },
    }


def template(color: str, **extra: Any) -> dict[str, Any]:
    labels = {"app": "canary-demo", "color": color}
    return {
        "name": color,
        "replicas": 1,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "containers": [
                    {
                        "name": "rollouts-demo",
                        "image": f"argoproj/rollouts-demo:{color}",
                        "ports": [{"name": "http", "containerPort": 8080}],
                    }
                ]
            },
        },
        **extra,
    }


def experiment(name: str, colors: list[str], **spec: Any) -> dict[str, Any]:
    """Argo's ``example-experiment`` (templates purple and orange, an http-benchmark analysis
    of each), with the durations shortened."""
    body: dict[str, Any] = {
        "duration": "5s",
        "progressDeadlineSeconds": 30,
        "scaleDownDelaySeconds": 0,
        "templates": [template(c) for c in colors],
        "analyses": [
            {"name": c, "templateName": "http-benchmark", "args": [{"name": "host", "value": c}]}
            for c in colors
        ],
    }
    body.update(spec)
    return {
        "apiVersion": models.API_VERSION,
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": NS},
        "spec": body,
    }


def status(kube: Kube, name: str) -> dict[str, Any]:
    found = kube.get(models.API_VERSION, "experiments", NS, name) or {}
    return found.get("status") or {}


def phase_of(kube: Kube, name: str, phase: str, timeout: float = 20.0) -> dict[str, Any]:
    try:
        return eventually(
            lambda: (s := status(kube, name)).get("phase") == phase and s,
            timeout=timeout,
            what=f"experiment {name} {phase}",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}; status: {status(kube, name)}") from None


def deployments(kube: Kube, name: str) -> list[str]:
    found = kube.list_of(
        "apps/v1", "deployments", NS, label_selector=f"ferry.dev/experiment={name}"
    )
    return sorted(d["metadata"]["name"] for d in found)


def test_an_abc_experiment_runs_each_version_side_by_side_and_reports_which_passed(
    runtime: Runtime, kube: Kube, verdicts: Verdicts
) -> None:
    colors = ["purple", "orange", "green"]
    kube.create(http_benchmark(verdicts))
    kube.create(experiment("abc", colors))
    running = phase_of(kube, "abc", "Running")
    assert deployments(kube, "abc") == ["abc-green", "abc-orange", "abc-purple"]
    assert {t["name"]: t["status"] for t in running["templateStatuses"]} == dict.fromkeys(
        colors, "Running"
    )
    hashes = {t["name"]: t["podTemplateHash"] for t in running["templateStatuses"]}
    assert len(set(hashes.values())) == 3
    pods = kube.list_of("v1", "pods", NS, label_selector="ferry.dev/experiment=abc")
    assert sorted(p["metadata"]["labels"]["color"] for p in pods) == sorted(colors)
    for pod in pods:  # each Pod carries its template's hash, for the metrics of each version
        labels = pod["metadata"]["labels"]
        assert labels["ferry.dev/pod-template-hash"] == hashes[labels["color"]]
    done = phase_of(kube, "abc", "Successful")
    assert {r["name"]: r["phase"] for r in done["analysisRuns"]} == dict.fromkeys(
        colors, "Successful"
    )
    assert all(verdicts.hits(c) >= 2 for c in colors)
    eventually(lambda: deployments(kube, "abc") == [], what="the experiment's Deployments removed")
    listed = run_cli(runtime, "kubectl", "get", "experiments", "-n", NS)
    assert "abc" in listed and "Successful" in listed


def test_a_failing_analysis_ends_the_experiment_early_with_its_verdict(
    runtime: Runtime, kube: Kube, verdicts: Verdicts
) -> None:
    verdicts.bad.add("orange")
    kube.create(http_benchmark(verdicts))
    kube.create(experiment("ab", ["purple", "orange"], duration="1h"))
    failed = phase_of(kube, "ab", "Failed")
    assert "orange" in failed["message"]
    runs = {r["name"]: r["phase"] for r in failed["analysisRuns"]}
    assert runs["orange"] == "Failed"
    assert runs["purple"] == "Successful"  # terminated when the experiment ended
    eventually(lambda: deployments(kube, "ab") == [], what="Deployments removed at the end")
    assert runtime.store is not None  # failureLimit 0: the first failure decides
    ended = runtime.store.load_experiment(RolloutRef(NS, "ab")).runs["ab-orange"]
    assert len(ended["measurements"]["ok"]) == 1


def test_without_a_duration_it_ends_when_its_required_analyses_complete(
    runtime: Runtime, kube: Kube, verdicts: Verdicts
) -> None:
    kube.create(http_benchmark(verdicts))
    body = experiment("required", ["purple"])
    body["spec"].pop("duration")
    body["spec"]["analyses"][0]["requiredForCompletion"] = True
    kube.create(body)
    done = phase_of(kube, "required", "Successful")
    assert done["message"] == "purple completed"


def test_terminate_ends_an_endless_experiment_and_removes_its_pods(
    runtime: Runtime, kube: Kube, verdicts: Verdicts
) -> None:
    kube.create(http_benchmark(verdicts))
    body = experiment("endless", ["purple"], analyses=[])
    body["spec"].pop("duration")
    kube.create(body)
    phase_of(kube, "endless", "Running")
    assert deployments(kube, "endless") == ["endless-purple"]
    kube.merge_patch(
        models.API_VERSION, "experiments", NS, "endless", {"spec": {"terminate": True}}
    )
    done = phase_of(kube, "endless", "Successful")
    assert done["message"] == "terminated"
    eventually(lambda: deployments(kube, "endless") == [], what="Pods removed")


def test_a_template_never_available_fails_at_the_progress_deadline(
    runtime: Runtime, kube: Kube, verdicts: Verdicts
) -> None:
    body = experiment("stuck", ["purple"], analyses=[], progressDeadlineSeconds=1)
    # the simulator's kubelet crash-loops a container whose image tag says crash
    body["spec"]["templates"][0]["template"]["spec"]["containers"][0]["image"] = "demo:crash"
    kube.create(body)
    failed = phase_of(kube, "stuck", "Failed", timeout=30)
    assert "purple was not available within 1s" in failed["message"]
    eventually(lambda: deployments(kube, "stuck") == [], what="Deployments removed")


def test_an_invalid_spec_is_an_error_with_every_problem_and_runs_nothing(
    runtime: Runtime, kube: Kube
) -> None:
    body = experiment("broken", ["purple"], analyses=[])
    body["spec"]["templates"][0]["selector"] = {"matchLabels": {"app": "other"}}
    kube.create(body)
    failed = phase_of(kube, "broken", "Error")
    assert "does not match the template's labels" in failed["message"]
    assert deployments(kube, "broken") == []


def test_deleting_an_experiment_removes_what_it_ran_and_its_state(
    runtime: Runtime, kube: Kube, verdicts: Verdicts
) -> None:
    kube.create(http_benchmark(verdicts))
    kube.create(experiment("gone", ["purple"], duration="1h"))
    phase_of(kube, "gone", "Running")
    kube.delete(models.API_VERSION, "experiments", NS, "gone")
    eventually(lambda: deployments(kube, "gone") == [], what="Deployments collected")
    assert runtime.store is not None
    eventually(
        lambda: not runtime.store.load_experiment(RolloutRef(NS, "gone")).exists,
        what="its state forgotten",
    )


def test_looks_twice_at_once_and_replayed_change_nothing_twice(
    runtime: Runtime, kube: Kube, verdicts: Verdicts
) -> None:
    """Every event of a running experiment delivered again, concurrently, and again after it
    ended: one history of moves, each measurement recorded once."""
    kube.create(http_benchmark(verdicts))
    kube.create(experiment("twice", ["purple"], duration="4s"))
    phase_of(kube, "twice", "Running")
    assert runtime.store is not None
    ref = RolloutRef(NS, "twice")
    uid = runtime.store.load_experiment(ref).uid
    replays = [
        events.new(Type.EXPERIMENT_CHANGED, ref, event_id=f"replay-{i}") for i in range(4)
    ] + [
        events.new(
            Type.EXPERIMENT_ELAPSED,
            ref,
            experimentuid=uid,
            run="twice-purple",
            metric="ok",
            index=i,
            poll=0,
        )
        for i in range(2)
    ]

    def replay_all() -> None:
        threads = [threading.Thread(target=publish, args=(runtime, e)) for e in replays * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        settle(runtime)

    replay_all()  # while it runs
    phase_of(kube, "twice", "Successful")
    history = runtime.store.experiment_history(ref)
    replay_all()  # after it ended
    assert runtime.store.experiment_history(ref) == history
    moves = [(e["from"], e["to"]) for e in history if e["from"] != e["to"]]
    assert moves == [("", "Pending"), ("Pending", "Running"), ("Running", "Successful")]
    notes = [e["note"] for e in history]
    for index in (1, 2):
        assert sum(f"twice-purple/ok #{index}:" in n for n in notes) == 1, notes
    (run,) = runtime.store.load_experiment(ref).runs.values()
    assert len(run["measurements"]["ok"]) == 2
    assert status(kube, "twice")["phase"] == "Successful"


# -- a Rollout's experiment step (Argo's "Integration With Rollouts") -------------------------


def mann_whitney(verdicts: Verdicts) -> dict[str, Any]:
    """Argo's example analysis of an experiment step: it compares the baseline's and the
    canary's Pods, known by their hashes (here a web check keyed by the canary's hash)."""
    return {
        "apiVersion": models.API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {"name": "mann-whitney", "namespace": NS},
        "spec": {
            "args": [{"name": "baseline-hash"}, {"name": "canary-hash"}],
            "metrics": [
                {
                    "name": "compare",
                    "interval": "200ms",
                    "count": 2,
                    "successCondition": "result == 1",
                    "failureLimit": 0,
                    "provider": {
                        "web": {
                            "url": f"{verdicts.base}/{{{{args.canary-hash}}}}",
                            "jsonPath": "{$.ok}",
                        }
                    },
                }
            ],
        },
    }


EXPERIMENT_STEP = {
    "experiment": {
        "duration": "3s",
        "templates": [
            {"name": "baseline", "specRef": "stable"},
            {"name": "canary", "specRef": "canary"},
        ],
        "analyses": [
            {
                "name": "mann-whitney",
                "templateName": "mann-whitney",
                "args": [
                    {"name": "baseline-hash", "value": "{{templates.baseline.podTemplateHash}}"},
                    {"name": "canary-hash", "value": "{{templates.canary.podTemplateHash}}"},
                ],
            }
        ],
    }
}


def step_experiment(kube: Kube) -> dict[str, Any]:
    found = kube.list_of(models.API_VERSION, "experiments", NS, label_selector="ferry.dev/rollout")
    assert len(found) == 1, [e["metadata"]["name"] for e in found]
    return found[0]


def at_experiment_step(
    podinfo: Demo, verdicts: Verdicts, steps: list[dict[str, Any]]
) -> tuple[str, str]:
    """The demo's rollout with ``steps`` (its experiment step at index 1) on a new revision,
    waiting at that step while its Experiment runs: the new revision and the Experiment."""
    podinfo.kube.create(mann_whitney(verdicts))
    podinfo.create(steps=steps)
    podinfo.wait(Stage.HEALTHY)
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.ANALYZING, step=1, timeout=20)
    name = step_experiment(podinfo.kube)["metadata"]["name"]
    phase_of(podinfo.kube, name, "Running")
    return revision, name


ENDLESS = {"experiment": {**EXPERIMENT_STEP["experiment"], "duration": "1h"}}


def test_an_experiment_step_runs_baseline_and_canary_apart_from_traffic_and_goes_on(
    podinfo: Demo, verdicts: Verdicts
) -> None:
    kube = podinfo.kube
    kube.create(mann_whitney(verdicts))
    podinfo.create(steps=[{"setWeight": 20}, EXPERIMENT_STEP, {"setWeight": 60}])
    podinfo.wait(Stage.HEALTHY)
    revision = podinfo.set_image("podinfo:2")
    waiting = podinfo.wait(Stage.ANALYZING, step=1, timeout=20)
    exp = step_experiment(kube)
    name = exp["metadata"]["name"]
    shown = run_cli(podinfo.runtime, "kubectl", "ferry", "get", "rollout", demo.NAME, "-n", NS)
    assert "experiment baseline=stable, canary=canary for 3s" in shown
    assert name == f"{demo.NAME}-{revision[:7]}-{waiting.attempt}-1"
    assert exp["metadata"]["ownerReferences"][0]["kind"] == "Rollout"
    running = phase_of(kube, name, "Running")
    hashes = {t["name"]: t["podTemplateHash"] for t in running["templateStatuses"]}
    pods = {
        p["metadata"]["labels"]["ferry.dev/experiment-template"]: p
        for p in kube.list_of("v1", "pods", NS, label_selector=f"ferry.dev/experiment={name}")
    }
    images = {t: p["spec"]["containers"][0]["image"] for t, p in pods.items()}
    assert images == {"baseline": "podinfo:1", "canary": "podinfo:2"}
    for template, pod in pods.items():
        labels = pod["metadata"]["labels"]
        assert labels["app"] == f"{demo.NAME}-{template}"
        for service in kube.list_of("v1", "services", NS):  # no Service of the rollout
            selector = service["spec"].get("selector") or {}
            assert not selector or any(labels.get(k) != v for k, v in selector.items())
    finished = podinfo.wait(Stage.HEALTHY, stable_revision=revision, timeout=40)
    assert verdicts.hits(hashes["canary"]) >= 1
    notes = [e["note"] for e in podinfo.history()]
    assert any(f"experiment {name} running" in n for n in notes)
    assert any(f"experiment {name} Successful" in n for n in notes)
    assert finished.weight == 0
    eventually(lambda: deployments(kube, name) == [], what="the step's Pods removed")


def test_a_failing_experiment_aborts_the_rollout_with_its_verdict(
    podinfo: Demo, verdicts: Verdicts
) -> None:
    kube = podinfo.kube
    _, name = at_experiment_step(
        podinfo, verdicts, [{"setWeight": 20}, EXPERIMENT_STEP, {"setWeight": 60}]
    )
    running = phase_of(kube, name, "Running")
    canary = next(t for t in running["templateStatuses"] if t["name"] == "canary")
    verdicts.bad.add(canary["podTemplateHash"])  # the canary's Pods fail the comparison
    aborted = podinfo.wait(Stage.ABORTED, timeout=30)
    assert aborted.reason == "AnalysisFailed"
    assert f"experiment {name} Failed" in aborted.message
    assert aborted.weight == 0
    eventually(lambda: deployments(kube, name) == [], what="the experiment's Pods removed")


def test_abort_and_promote_during_an_experiment_step_terminate_it(
    podinfo: Demo, verdicts: Verdicts
) -> None:
    kube = podinfo.kube
    _, first = at_experiment_step(podinfo, verdicts, [{"setWeight": 20}, ENDLESS, {"pause": {}}])
    publish(podinfo.runtime, podinfo.command("promote"))
    podinfo.wait(Stage.PAUSED, step=2, timeout=20)
    ended = phase_of(kube, first, "Successful")
    assert ended["message"] == "terminated"
    eventually(lambda: deployments(kube, first) == [], what="the promoted step's Pods removed")
    publish(podinfo.runtime, podinfo.command("retry"))  # nothing to retry: it is not aborted
    publish(podinfo.runtime, podinfo.command("abort"))
    podinfo.wait(Stage.ABORTED, timeout=20)
    publish(podinfo.runtime, podinfo.command("retry"))
    podinfo.wait(Stage.ANALYZING, step=1, timeout=30)
    second = [
        e["metadata"]["name"]
        for e in kube.list_of(
            models.API_VERSION, "experiments", NS, label_selector="ferry.dev/rollout"
        )
        if e["metadata"]["name"] != first
    ]
    assert len(second) == 1  # a new attempt runs an experiment of its own
    phase_of(kube, second[0], "Running")
    publish(podinfo.runtime, podinfo.command("abort"))
    podinfo.wait(Stage.ABORTED, timeout=20)
    assert phase_of(kube, second[0], "Successful")["message"] == "terminated"
    eventually(lambda: deployments(kube, second[0]) == [], what="the aborted step's Pods removed")


# -- crashes and downtime --------------------------------------------------------------------


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_around_every_commit_is_healed_by_redelivery(
    podinfo: Demo, verdicts: Verdicts, when: str
) -> None:
    """The experiment function and the rollout's functions each die once around a commit of
    an experiment step's run: the Broker delivers again, and every move happens once."""
    kube, runtime = podinfo.kube, podinfo.runtime
    kube.create(mann_whitney(verdicts))
    podinfo.create(steps=[EXPERIMENT_STEP])
    podinfo.wait(Stage.HEALTHY)
    for name in ("experiment", "step", "measure", "advance"):
        runtime.faults.arm(name, 2 if name == "experiment" else 1, when=when)
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.HEALTHY, stable_revision=revision, timeout=60)
    for name in ("experiment", "step", "measure"):
        assert runtime.faults.left(name, when=when) == 0, f"{name} never crashed"
    name = step_experiment(kube)["metadata"]["name"]
    assert runtime.store is not None
    moves = [
        (e["from"], e["to"], e["note"])
        for e in runtime.store.experiment_history(RolloutRef(NS, name))
    ]
    assert len(moves) == len(set(moves)), moves
    assert [m[1] for m in moves if m[0] != m[1]] == ["Pending", "Running", "Successful"]
    notes = [e["note"] for e in podinfo.history()]
    assert sum(f"experiment {name} Successful" in n for n in notes) == 1
    eventually(lambda: deployments(kube, name) == [], what="the step's Pods removed")


def test_an_experiment_that_ended_while_ferry_was_down_ends_when_it_is_back(
    tmp_path: Path, verdicts: Verdicts
) -> None:
    with Simulator(settings=FAST) as cluster:
        options = downtime.options_for(cluster, tmp_path)
        kube = Kube(cluster.api_client())
        with Runtime(options) as first:
            kube.create(http_benchmark(verdicts))
            kube.create(experiment("offline", ["purple"], duration="2s"))
            running = phase_of(kube, "offline", "Running")
        ends = parse_time(running["availableAt"]) + 2
        while time.time() <= ends + 1.5:  # its duration ends while Ferry is down (whole seconds)
            time.sleep(0.1)
        assert status(kube, "offline")["phase"] == "Running"
        assert deployments(kube, "offline") == ["offline-purple"]
        with Runtime(options) as second:
            assert second.store is not None
            done = phase_of(kube, "offline", "Successful", timeout=downtime.RESUME_TIMEOUT)
            assert "every analysis passed" in done["message"]
            eventually(lambda: deployments(kube, "offline") == [], what="its Pods removed")
            assert first is not second


def parse_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def test_argos_example_experiment_applies_runs_and_terminates_with_kubectl(
    runtime: Runtime, kube: Kube
) -> None:
    """knative/examples/experiment.yaml, driven by the commands in its header."""
    example = str(KNATIVE_DIR / "examples" / "experiment.yaml")
    run_cli(runtime, "kubectl", "apply", "-n", NS, "-f", example)
    running = phase_of(kube, "example-experiment", "Running", timeout=30)
    assert [t["serviceName"] for t in running["templateStatuses"]] == ["purple", "orange"]
    services = {s["metadata"]["name"] for s in kube.list_of("v1", "services", NS)}
    assert {"purple", "orange"} <= services
    listed = run_cli(runtime, "kubectl", "get", "experiments", "-n", NS)
    assert "example-experiment" in listed and "Running" in listed
    run_cli(
        runtime,
        "kubectl",
        "patch",
        "experiment",
        "example-experiment",
        "-n",
        NS,
        "--type",
        "merge",
        "-p",
        '{"spec":{"terminate":true}}',
    )
    done = phase_of(kube, "example-experiment", "Successful")
    assert done["message"] == "terminated"
    assert {r["phase"] for r in done["analysisRuns"]} == {"Successful"}
    # its Pods stay scaleDownDelaySeconds (Argo's default 30) after it ended
    assert deployments(kube, "example-experiment") == [
        "example-experiment-orange",
        "example-experiment-purple",
    ]


# -- what others may do to an experiment ------------------------------------------------------


def test_an_experiment_made_by_someone_else_under_the_steps_name_is_not_the_steps(
    podinfo: Demo, verdicts: Verdicts
) -> None:
    """The name of a step's Experiment can be known beforehand, and so can the Rollout's uid:
    one created before the step (already terminated, say) is not adopted: the step ends in
    Error and the rollout aborts, it never goes on on the strength of someone else's."""
    kube = podinfo.kube
    kube.create(mann_whitney(verdicts))
    podinfo.create(steps=[{"setWeight": 20}, {"pause": {}}, EXPERIMENT_STEP])
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    paused = podinfo.wait(Stage.PAUSED, step=1, timeout=20)
    owner = kube.rollout(NS, demo.NAME)
    assert owner is not None
    name = f"{demo.NAME}-{paused.canary_revision[:7]}-{paused.attempt}-2"
    forged = experiment(name, ["purple"], analyses=[], terminate=True)
    forged["metadata"]["labels"] = {"ferry.dev/rollout": demo.NAME, "ferry.dev/rollout-step": "2"}
    forged["metadata"]["ownerReferences"] = [
        {
            "apiVersion": models.API_VERSION,
            "kind": "Rollout",
            "name": demo.NAME,
            "uid": owner["metadata"]["uid"],
            "controller": True,
        }
    ]
    kube.create(forged)
    publish(podinfo.runtime, podinfo.command("promote"))
    aborted = podinfo.wait(Stage.ABORTED, timeout=20)
    assert "is not the one this step makes" in aborted.message
    assert deployments(kube, name) == [] or status(kube, name).get("phase") == "Successful"


def test_deleting_a_steps_experiment_aborts_the_rollout(podinfo: Demo, verdicts: Verdicts) -> None:
    kube = podinfo.kube
    _, name = at_experiment_step(podinfo, verdicts, [{"setWeight": 20}, ENDLESS])
    kube.delete(models.API_VERSION, "experiments", NS, name)
    aborted = podinfo.wait(Stage.ABORTED, timeout=20)
    assert f"the Experiment {name} was deleted" in aborted.message
    eventually(lambda: deployments(kube, name) == [], what="its Deployments collected")


def test_a_hand_edit_of_what_it_runs_is_no_error_loop(
    runtime: Runtime, kube: Kube, verdicts: Verdicts
) -> None:
    """Scaling an experiment's Deployment by hand leaves Ferry answering 2xx (it creates
    what is missing, never takes over what exists), and its status goes on being mirrored."""
    kube.create(http_benchmark(verdicts))
    kube.create(experiment("edited", ["purple"], duration="3s"))
    phase_of(kube, "edited", "Running")
    kube.merge_patch(
        "apps/v1", "deployments", NS, "edited-purple", {"spec": {"replicas": 3}}, sub="scale"
    )
    assert post_to(
        runtime,
        "experiment",
        events.new(Type.EXPERIMENT_CHANGED, RolloutRef(NS, "edited"), event_id="look"),
    ) in (200, 202)
    phase_of(kube, "edited", "Successful")
    assert runtime.store is not None
    assert runtime.store.redis.xlen("ferry:deadletters") == 0


def test_a_template_named_like_someone_elses_deployment_is_an_error_that_leaves_it(
    runtime: Runtime, kube: Kube
) -> None:
    theirs = demo.deployment("theirs:1")
    theirs["metadata"]["name"] = "taken-purple"
    kube.create(theirs)
    kube.create(experiment("taken", ["purple"], analyses=[]))
    failed = phase_of(kube, "taken", "Error")
    assert "Deployment/taken-purple exists and is not this experiment's" in failed["message"]
    kept = kube.deployment(NS, "taken-purple")
    assert kept is not None
    assert kept["spec"]["template"]["spec"]["containers"][0]["image"] == "theirs:1"
    assert "ownerReferences" not in kept["metadata"]


def test_a_malformed_pod_template_is_an_error_not_a_retry_loop(
    runtime: Runtime, kube: Kube
) -> None:
    body = experiment("malformed", ["purple"], analyses=[])
    body["spec"]["templates"][0]["template"]["metadata"]["labels"] = ["not", "a", "map"]
    del body["spec"]["templates"][0]["selector"]
    kube.create(body)
    failed = phase_of(kube, "malformed", "Error")
    assert "template.metadata.labels must map names to strings" in failed["message"]
    assert runtime.store is not None
    assert runtime.store.redis.xlen("ferry:deadletters") == 0
