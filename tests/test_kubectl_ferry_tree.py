"""``kubectl ferry``'s Argo Rollouts parity, through the real kubectl plugin mechanism.

Covered:
- ``get rollout``'s tree after a canary step and an analysis: the canary and stable revisions
  with their images and replicas, the ReplicaSets of the target and the primary, every Pod
  the API server lists (status, ready), the AnalysisRun with its measurement counts (and in
  the Analysis section, each metric's last measurement); Argo's
  icons, and ``--ascii``; ``-o json`` and ``-o yaml`` (kind RolloutTree) hold the same; the
  tree's text from data alone (every icon, an AnalysisRun's ✔/✖ counts, a crashing Pod);
- ``get -w`` redraws when Pods change (a restart), not only when the Rollout does;
- ``list rollouts -w``: the table, then a row when a rollout changes (a real watch), ending on
  ``--timeout`` and on Ctrl-C;
- ``restart``: the stable Pods are replaced (new names and uids) by the primary's rolling
  update, in the middle of a paused canary, while the canary's Pods, the Rollout's spec and
  generation, the target and the canary revision stay as they were; a command issued before
  the last restart is refused (duplicates, races and refusals: ``tests/flow/test_restart.py``);
- ``version``: the plugin's, Ferry's (the label of its Knative Services; unknown when there
  are none or the cluster is unreachable, never failing) and Kubernetes';
- ``completion``: a bash script ``bash -n`` accepts that completes commands and rollout
  names; a zsh script (``zsh -n`` where zsh is installed).
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.kubectl_ferry import drawing, trees, views
from local import demo
from local.runtime import KNATIVE_DIR
from local.sim.cluster import Simulator
from shared import events, models, workloads
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import (  # noqa: F401
    Demo,
    JsonEndpoint,
    eventually,
    kube,
    podinfo,
    runtime,
)
from tests.test_kubectl_ferry import (
    ENV,
    KUBECTL,
    USER,
    act,
    as_alice,
    config,  # noqa: F401
    ferry,
    spec_of,
    status_of,
    write_kubeconfig,
)

Obj = dict[str, Any]
PRIMARY = f"{demo.NAME}-primary"
ALPHA = "\N{GREEK SMALL LETTER ALPHA}"  # Argo's AnalysisRun icon


def pods_of(k8s: Kube, deployment: str) -> dict[str, str]:
    """The Pods of ``deployment`` (by its selector) that are not being deleted: name -> uid."""
    found = k8s.deployment(demo.NAMESPACE, deployment)
    assert found is not None
    labels = found["spec"]["selector"]["matchLabels"]
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    return {
        p["metadata"]["name"]: p["metadata"]["uid"]
        for p in k8s.list_of("v1", "pods", demo.NAMESPACE, label_selector=selector)
        if not p["metadata"].get("deletionTimestamp")
        and all(p["metadata"].get("labels", {}).get(k) == v for k, v in labels.items())
    }


def ready(k8s: Kube, deployment: str) -> bool:
    return workloads.is_ready(k8s.deployment(demo.NAMESPACE, deployment))


def healthy_template(url: str) -> Obj:
    return {
        "apiVersion": models.API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {"name": "healthy", "namespace": demo.NAMESPACE},
        "spec": {
            "metrics": [
                {
                    "name": "up",
                    "interval": "200ms",
                    "count": 2,
                    "successCondition": "result == true",
                    "provider": {"web": {"url": url, "jsonPath": "{$.ok}"}},
                }
            ]
        },
    }


@pytest.fixture
def health() -> Iterator[JsonEndpoint]:
    endpoint = JsonEndpoint(lambda: {"ok": True}, "/health")
    try:
        yield endpoint
    finally:
        endpoint.stop()


def canary_paused(podinfo: Demo, steps: list[Obj]) -> tuple[str, str]:  # noqa: F811
    """podinfo Healthy, then podinfo:2 paused at its last step: (stable, canary) revisions."""
    podinfo.create(steps=steps)
    stable = podinfo.wait(Stage.HEALTHY).stable_revision
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, canary_revision=revision, step=len(steps) - 1, timeout=30)
    eventually(lambda: status_of(podinfo.kube).get("phase") == "Paused", what="status Paused")
    eventually(lambda: ready(podinfo.kube, demo.NAME) and ready(podinfo.kube, PRIMARY))
    return stable, revision


def tree_lines(text: str) -> list[str]:
    """The lines of the tree (after its NAME KIND STATUS AGE INFO header)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["NAME", "KIND"])
    return lines[start + 1 :]


# -- get rollout -----------------------------------------------------------------------------


def test_the_tree_shows_revisions_replicasets_pods_and_analysis_after_a_canary_step(
    podinfo: Demo,  # noqa: F811
    config: Path,  # noqa: F811
    health: JsonEndpoint,
) -> None:
    podinfo.kube.create(healthy_template(health.url))
    steps: list[Obj] = [
        {"setWeight": 20},
        {"analysis": {"templates": [{"templateName": "healthy"}]}},
        {"pause": {}},
    ]
    stable, canary = canary_paused(podinfo, steps)
    canary_pods, stable_pods = pods_of(podinfo.kube, demo.NAME), pods_of(podinfo.kube, PRIMARY)
    assert canary_pods and stable_pods

    shown = ferry(config, "get", "rollout", demo.NAME)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert re.search(r"^Strategy:\s+Canary$", out, re.M)
    assert re.search(r"^Images:\s+podinfo:1 \(stable\)$", out, re.M)
    assert re.search(r"^\s+podinfo:2 \(canary\)$", out, re.M)
    assert re.search(rf"^  Desired:\s+{len(stable_pods)}$", out, re.M)
    total = len(stable_pods) + len(canary_pods)
    assert re.search(rf"^  Current:\s+{total}$", out, re.M)
    assert re.search(rf"^  Available:\s+{total}$", out, re.M)
    lines = tree_lines(out)
    assert re.match(rf"^⟳ {demo.NAME}\s+Rollout\s+॥ Paused\s", lines[0])
    revisions = [i for i, line in enumerate(lines) if "# revision:" in line]
    assert len(revisions) == 2
    newest, oldest = lines[revisions[0]], lines[revisions[1]]
    assert newest.startswith(f"├──# revision:{canary}") and oldest.startswith(
        f"└──# revision:{stable}"
    )
    assert re.search(rf"\bcanary  podinfo:2  ready:{len(canary_pods)}/{len(canary_pods)}$", newest)
    assert re.search(rf"\bstable  podinfo:1  ready:{len(stable_pods)}/{len(stable_pods)}$", oldest)
    canary_part = "\n".join(lines[revisions[0] : revisions[1]])
    stable_part = "\n".join(lines[revisions[1] :])
    assert re.search(rf"⧉ {demo.NAME}-[a-z0-9]+\s+ReplicaSet\s+✔ Healthy\s.*canary", canary_part)
    assert re.search(rf"⧉ {PRIMARY}-[a-z0-9]+\s+ReplicaSet\s+✔ Healthy\s.*stable", stable_part)
    for name in canary_pods:
        assert re.search(rf"□ {name}\s+Pod\s+✔ Running\s+\S+\s+ready:1/1", canary_part), name
    for name in stable_pods:
        assert re.search(rf"□ {name}\s+Pod\s+✔ Running\s+\S+\s+ready:1/1", stable_part), name
    run_line = next(line for line in lines if "AnalysisRun" in line)
    assert run_line in canary_part
    assert re.search(
        rf"{ALPHA} {demo.NAME}-{canary[:7]}-\S+\s+AnalysisRun\s+✔ Successful\s.*✔ 2", run_line
    )
    assert re.search(r"up\s+Metric\s+✔ Successful\s+✔ 2,last:true", canary_part)
    # the Analysis section: the run, then each metric with its last measurement
    section = out.split("\nAnalysis:\n", 1)[1].split("\nHistory", 1)[0].splitlines()
    assert re.match(rf"^  {demo.NAME}-{canary[:7]}-\S+( \(\w+\))?  Successful", section[0])
    metric = r"^    up  Successful  last: Successful value true at \S+$"
    assert len(section) > 1 and re.match(metric, section[1]), section

    plain = ferry(config, "get", "rollout", demo.NAME, "--ascii").stdout
    assert plain.isascii()
    assert re.search(rf"^`--# revision:{stable}", plain, re.M)
    assert re.search(r"a \S+\s+AnalysisRun\s+\+ Successful\s.*\+ 2", plain)

    as_json = ferry(config, "get", "rollout", demo.NAME, "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    as_yaml = yaml.safe_load(ferry(config, "get", "rollout", demo.NAME, "-o", "yaml").stdout)
    for tree in (data, as_yaml):
        assert (tree["kind"], tree["version"]) == ("RolloutTree", 1)
        assert tree["rollout"]["metadata"]["name"] == demo.NAME
        assert tree["rollout"]["spec"] == json.loads(spec_of(podinfo.kube)[0])
        summary = tree["summary"]
        assert (summary["status"], summary["strategy"], summary["step"]) == (
            "Paused",
            "Canary",
            "3/3",
        )
        assert summary["images"] == [
            {"image": "podinfo:1", "tags": ["stable"]},
            {"image": "podinfo:2", "tags": ["canary"]},
        ]
        by_revision = {r["revision"]: r for r in tree["revisions"]}
        assert list(by_revision) == [canary, stable]
        for revision, deployment, pods, image, tag in (
            (canary, demo.NAME, canary_pods, "podinfo:2", "canary"),
            (stable, PRIMARY, stable_pods, "podinfo:1", "stable"),
        ):
            node = by_revision[revision]
            assert node["tags"] == [tag] and node["images"] == [image]
            (rs,) = node["replicaSets"]
            assert (rs["deployment"], rs["status"], rs["tags"]) == (deployment, "Healthy", [tag])
            assert {p["name"]: p["uid"] for p in rs["pods"]} == pods
            assert {(p["status"], p["ready"], p["images"][0]) for p in rs["pods"]} == {
                ("Running", "1/1", image)
            }
        (run,) = by_revision[canary]["analysisRuns"]
        assert (run["status"], run["successful"], run["failed"]) == ("Successful", 2, 0)
        assert [(m["name"], m["status"], m["count"]) for m in run["metrics"]] == [
            ("up", "Successful", 2)
        ]
        assert by_revision[stable]["analysisRuns"] == []
        assert tree["warnings"] == []


def test_the_tree_is_drawn_from_data_with_every_icon() -> None:
    """The text from objects alone: a failed run's counts, a crashing Pod, ASCII marks."""
    rollout = {
        "metadata": {
            "name": "web",
            "namespace": "default",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"strategy": {"canary": {"steps": [{"setWeight": 10}]}}},
        "status": {
            "phase": "Degraded",
            "stableRevision": "aaaaaaaaaa",
            "canaryRevision": "bbbbbbbbbb",
        },
    }
    target = {
        "metadata": {"name": "web", "uid": "t", "annotations": {trees.DEPLOYMENT_REVISION: "2"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"replicas": 1, "readyReplicas": 0, "availableReplicas": 0},
    }
    rs = {
        "metadata": {
            "name": "web-1",
            "uid": "rs",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {trees.DEPLOYMENT_REVISION: "2"},
            "ownerReferences": [{"uid": "t"}],
        },
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": "web:crash"}]}}},
        "status": {"replicas": 1, "availableReplicas": 0, "observedGeneration": 1},
    }
    pod = {
        "metadata": {"name": "web-1-x", "uid": "p", "ownerReferences": [{"uid": "rs"}]},
        "spec": {"containers": [{"name": "web", "image": "web:crash"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "ready": False,
                    "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                }
            ],
        },
    }
    run = {
        "metadata": {"name": "web-bbbbbbb-1-step1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {
            "phase": "Failed",
            "metricResults": [
                {
                    "name": "errors",
                    "phase": "Failed",
                    "successful": 1,
                    "failed": 2,
                    "count": 3,
                    "measurements": [{"phase": "Failed", "value": "0.3"}],
                },
            ],
        },
    }
    tree = trees.build(
        rollout,
        target=target,
        primary=None,
        replicasets=[rs],
        pods=[pod],
        runs=[run],
        target_revision="bbbbbbbbbb",
    )
    now = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    text = drawing.render(tree, now, drawing.UNICODE, views.age)
    assert re.search(r"^⟳ web\s+Rollout\s+✖ Degraded\s+5m$", text, re.M)
    assert re.search(r"⧉ web-1\s+ReplicaSet\s+◌ Progressing\s+5m\s+canary,ready:0/1", text)
    assert re.search(r"□ web-1-x\s+Pod\s+✖ CrashLoopBackOff\s+\S+\s+ready:0/1,restarts:3", text)
    assert re.search(
        rf"{ALPHA} web-bbbbbbb-1-step1\s+AnalysisRun\s+✖ Failed\s+5m\s+✔ 1,✖ 2$", text, re.M
    )
    assert re.search(r"errors\s+Metric\s+✖ Failed\s+✔ 1,✖ 2,last:0.3$", text, re.M)
    ascii_text = drawing.render(tree, now, drawing.ASCII, views.age)
    assert ascii_text.isascii() and "x CrashLoopBackOff" in ascii_text
    assert drawing.for_output("ascii") is drawing.ASCII
    assert drawing.for_output("utf-8") is drawing.UNICODE


# -- restart ---------------------------------------------------------------------------------


def test_restart_replaces_the_stable_pods_without_touching_the_spec_and_once(
    podinfo: Demo,  # noqa: F811
    config: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    # in the middle of a canary (Argo allows a restart during a paused update)
    stable, canary = canary_paused(podinfo, [{"setWeight": 20}, {"pause": {}}])
    k8s = podinfo.kube
    before_stable, before_canary = pods_of(k8s, PRIMARY), pods_of(k8s, demo.NAME)
    target_generation = k8s.deployment(demo.NAMESPACE, demo.NAME)["metadata"]["generation"]  # type: ignore[index]

    assert KUBECTL
    errors = tmp_path / "stderr"
    with errors.open("w") as stderr:  # a watching get redraws as the Pods are replaced
        watching = subprocess.Popen(
            [KUBECTL, "ferry", "--kubeconfig", str(config), "get", "rollout", demo.NAME, "-w"],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert watching.stdout is not None
        assert watching.stdout.readline().startswith("Name:")
        proc, command = act(config, k8s, "restart", demo.NAME)  # spec and generation untouched
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        assert proc.stdout.startswith(f"rollout {demo.NAME}: restarted by {USER}: ")
        assert stable in proc.stdout

        def replaced() -> dict[str, str] | None:
            now = pods_of(k8s, PRIMARY)
            fresh = now and not set(now) & set(before_stable)
            return now if fresh and ready(k8s, PRIMARY) else None

        after = eventually(replaced, timeout=30, what="the stable Pods replaced")
        assert len(after) == len(before_stable)
        assert not set(after.values()) & set(before_stable.values())  # new uids too
        time.sleep(2.5)  # the watch looks at the Pods every 2 s
    finally:
        watching.send_signal(signal.SIGINT)
        out = watching.stdout.read() if watching.stdout else ""
        watching.wait(timeout=10)
    assert watching.returncode == 0, errors.read_text()
    assert all(name in out for name in after), "the watch showed the new Pods"

    assert pods_of(k8s, demo.NAME) == before_canary  # the canary's Pods are not restarted
    target = k8s.deployment(demo.NAMESPACE, demo.NAME)
    assert target is not None and target["metadata"]["generation"] == target_generation
    state = podinfo.state()
    assert (state.stage, state.step, state.canary_revision) == (Stage.PAUSED, 1, canary)
    status = status_of(k8s)
    assert (status["canaryRevision"], status["currentStepIndex"]) == (canary, 1)
    assert status["restartedAt"]
    primary = k8s.deployment(demo.NAMESPACE, PRIMARY)
    annotations = primary["spec"]["template"]["metadata"]["annotations"]  # type: ignore[index]
    # to the millisecond on the template (two restarts in one second differ), to the second in
    # the status (Argo's restartedAt)
    assert annotations[workloads.RESTART_ANNOTATION] == workloads.restart_stamp(state.restarted_at)
    assert annotations[workloads.RESTART_ANNOTATION].startswith(status["restartedAt"][:-1] + ".")
    assert annotations[workloads.REVISION_ANNOTATION] == stable
    shown = ferry(config, "get", "rollout", demo.NAME).stdout
    assert re.search(rf"^Restarted:\s+{status['restartedAt']}$", shown, re.M)

    by_command = [e for e in podinfo.history() if e.get("command") == command["id"]]
    assert len(by_command) == 1 and by_command[0]["user"] == USER

    # a command issued before the last restart is not carried out again
    late = podinfo.command("restart", when=time.time() - 30)
    late_id = events.ext(late, events.Ext.COMMAND)

    def refused() -> str | None:
        entries = [e for e in podinfo.history() if e.get("command") == late_id]
        return str(entries[0]["note"]) if entries else None

    note = eventually(refused, what="the late restart answered")
    assert note.startswith(f"ignored: restart by {USER}: the stable Pods were restarted at ")
    assert pods_of(k8s, PRIMARY) == after
    assert json.loads(spec_of(k8s)[0]) == k8s.rollout(demo.NAMESPACE, demo.NAME)["spec"]  # type: ignore[index]


# -- list --watch ----------------------------------------------------------------------------


def test_list_watch_prints_a_row_when_a_rollout_changes(
    podinfo: Demo,  # noqa: F811
    config: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    podinfo.create(steps=[{"setWeight": 20}, {"pause": {}}])
    stable = podinfo.wait(Stage.HEALTHY).stable_revision
    eventually(lambda: status_of(podinfo.kube).get("phase") == "Healthy", what="Healthy")
    started = time.monotonic()
    quiet = ferry(config, "list", "rollouts", "-w", "--timeout", "1s")
    assert quiet.returncode == 0, quiet.stderr
    assert 1 <= time.monotonic() - started < 15
    header, *rows = quiet.stdout.splitlines()
    assert header.split() == ["NAME", "PHASE", "STEP", "WEIGHT", "STABLE", "CANARY", "AGE"]
    assert [r.split()[:5] for r in rows] == [[demo.NAME, "Healthy", "2/2", "0%", stable]]

    assert KUBECTL
    errors = tmp_path / "stderr"
    with errors.open("w") as stderr:
        watching = subprocess.Popen(
            [KUBECTL, "ferry", "--kubeconfig", str(config), "list", "rollouts", "-w"],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert watching.stdout is not None
        assert watching.stdout.readline().split()[0] == "NAME"
        assert watching.stdout.readline().split()[:2] == [demo.NAME, "Healthy"]
        revision = podinfo.set_image("podinfo:2")
        podinfo.wait(Stage.PAUSED, canary_revision=revision)
        eventually(lambda: status_of(podinfo.kube).get("phase") == "Paused", what="Paused")
        time.sleep(0.5)
    finally:
        watching.send_signal(signal.SIGINT)  # Ctrl-C
        out = watching.stdout.read() if watching.stdout else ""
        watching.wait(timeout=10)
    assert watching.returncode == 0, errors.read_text()
    rows = [line.split() for line in out.splitlines()]
    assert rows and all(r[0] == demo.NAME for r in rows)
    assert [demo.NAME, "Paused", "2/2", "20%", stable, revision] == rows[-1][:6]
    assert all(a[:-1] != b[:-1] for a, b in itertools.pairwise(rows)), "a row repeated"


# -- version ---------------------------------------------------------------------------------

KSVC_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "services.serving.knative.dev"},
    "spec": {
        "group": "serving.knative.dev",
        "scope": "Namespaced",
        "names": {"plural": "services", "singular": "service", "kind": "Service"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def test_version_prints_the_plugins_ferrys_and_kubernetes(tmp_path: Path) -> None:
    with Simulator(controllers=False) as sim:
        config_ = as_alice(sim, tmp_path / "kubeconfig")
        bare = ferry(config_, "version")
        assert bare.returncode == 0, bare.stderr
        lines = bare.stdout.splitlines()
        assert re.fullmatch(r"kubectl-ferry \S+", lines[0])
        assert re.fullmatch(r"Ferry:\s+unknown \(.*Knative.*\)", lines[1])
        assert re.fullmatch(r"Kubernetes:\s+v1\.\d+\.\d+\S*", lines[2])

        k8s = Kube(sim.api_client())
        k8s.request(
            "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=KSVC_CRD
        )
        k8s.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "ferry-system"}})
        services = [
            d
            for d in yaml.safe_load_all((KNATIVE_DIR / "services.yaml").read_text())
            if d and d.get("kind") == "Service"
        ]
        version = services[0]["metadata"]["labels"]["app.kubernetes.io/version"]

        def installed() -> bool:
            try:
                for service in services[:2]:
                    k8s.create(service)
                return True
            except Exception:  # the new resource is served a moment after its CRD
                return False

        eventually(installed, what="Knative Services created")
        found = ferry(config_, "version").stdout.splitlines()
        assert re.fullmatch(rf"Ferry:\s+{re.escape(version)}", found[1]), found
        assert ferry(config_, "version", "--short").stdout.strip() == lines[0]
        url = sim.url
    down = ferry(write_kubeconfig(tmp_path / "down", url), "version")
    assert down.returncode == 0, down.stderr
    assert f"cannot reach the cluster at {url}" in down.stdout
    assert down.stdout.splitlines()[0] == lines[0]


# -- completion ------------------------------------------------------------------------------


def test_completion_scripts_are_valid_and_complete_commands_and_rollout_names(
    tmp_path: Path,
) -> None:
    script = ferry(None, "completion", "bash")
    assert script.returncode == 0, script.stderr
    path = tmp_path / "kubectl-ferry.bash"
    path.write_text(script.stdout)
    checked = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "complete " in script.stdout and "kubectl-ferry" in script.stdout

    def complete(*words: str, env: dict[str, str] = ENV) -> list[str]:
        line = " ".join(words)
        program = (
            f"source {path}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
            f'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; _shtab_kubectl_ferry; '
            'printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = subprocess.run(["bash", "-c", program], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    commands_ = complete("kubectl-ferry", "re")
    assert set(commands_) == {"restart", "resume", "retry"}
    assert "__rollouts" not in complete("kubectl-ferry", "_")

    with Simulator(controllers=False) as sim:
        k8s = Kube(sim.api_client())
        for crd in yaml.safe_load_all((KNATIVE_DIR / "crds" / "rollouts.yaml").read_text()):
            k8s.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crd)
        for name in ("podinfo", "payments"):
            made = demo.rollout()
            made["metadata"]["name"] = name

            def created(obj: Obj = made) -> bool:
                try:
                    k8s.create(obj)
                    return True
                except Exception:  # served a moment after its CRD
                    return False

            eventually(created, what="a Rollout created")
        config_ = as_alice(sim, tmp_path / "kubeconfig")
        env = dict(ENV, KUBECONFIG=str(config_))
        assert sorted(complete("kubectl-ferry", "restart", "", env=env)) == ["payments", "podinfo"]
        assert complete("kubectl-ferry", "promote", "po", env=env) == ["podinfo"]

    zsh = ferry(None, "completion", "zsh")
    assert zsh.returncode == 0, zsh.stderr
    assert zsh.stdout.startswith("#compdef kubectl-ferry\n")
    assert "_arguments" in zsh.stdout and "__rollouts" in zsh.stdout
    if shutil.which("zsh"):
        (tmp_path / "_kubectl-ferry").write_text(zsh.stdout)
        checked = subprocess.run(
            ["zsh", "-n", str(tmp_path / "_kubectl-ferry")], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr
        program = (
            "autoload -U compinit; compinit -u; "
            f'eval "$(cat {tmp_path / "_kubectl-ferry"})"; '
            'print -r -- "${_comps[kubectl-ferry]}"'
        )
        loaded = subprocess.run(
            ["zsh", "-c", program], capture_output=True, text=True, cwd=tmp_path
        )
        assert loaded.stdout.strip() == "_shtab_kubectl_ferry", loaded.stderr
