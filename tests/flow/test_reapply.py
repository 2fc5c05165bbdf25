"""Git applied again, as a GitOps tool does on every sync, changes nothing once Ferry runs a
rollout, when the target Deployment in Git leaves ``replicas`` out and the Rollout's
``spec.replicas`` (Argo Rollouts' field) says how many Pods the stable revision runs.

Covered, with the real ``kubectl`` on manifest files: the primary runs ``spec.replicas``
(whatever the target ran), and follows a change of it at rest, while paused and after an
abort; after a release is promoted, ``kubectl
apply`` of the same files leaves the target at 0 replicas
(watched: never scaled up) and starts no Pod, and ``kubectl diff`` reports no difference; and,
for contrast, a target with ``replicas: 2`` in Git is scaled up by the same apply (the churn
the README's remedy avoids), which Ferry puts back.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from local import demo
from local.runtime import Runtime
from shared import workloads
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, Recorder, eventually, publish

STEPS: list[dict[str, Any]] = [{"setWeight": 50}]


def kubectl(runtime: Runtime, *argv: str) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = dict(os.environ, PATH=path, KUBECONFIG=runtime.kubeconfig)
    return subprocess.run(
        ["kubectl", *argv], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def git_files(
    tmp_path: Path, image: str, *, replicas: int | None, steps: list[dict[str, Any]] = STEPS
) -> Path:
    """The manifests as they are in Git: the target, its Ingress and the Rollout."""
    target = demo.deployment(image)
    if replicas is None:
        del target["spec"]["replicas"]
    else:
        target["spec"]["replicas"] = replicas
    rollout = demo.rollout(steps, replicas=3)
    path = tmp_path / "podinfo.yaml"
    path.write_text(yaml.safe_dump_all([target, demo.ingress(), rollout], sort_keys=False))
    return path


def target_pods(kube: Kube) -> set[str]:
    target = kube.deployment(demo.NAMESPACE, demo.NAME)
    assert target is not None
    selector = ",".join(f"{k}={v}" for k, v in sorted(workloads.selector_labels(target).items()))
    pods = kube.list_of("v1", "pods", demo.NAMESPACE, label_selector=selector)
    owned = [p for p in pods if "-primary" not in p["metadata"]["name"]]
    return {p["metadata"]["uid"] for p in owned}


def released(runtime: Runtime, podinfo: Demo, files: Path) -> None:
    """Apply Git, wait until it runs, release 2 by changing Git and applying it."""
    done = kubectl(runtime, "apply", "-f", str(files))
    assert done.returncode == 0, done.stderr
    podinfo.wait(Stage.HEALTHY, timeout=30)
    files.write_text(files.read_text().replace("podinfo:1", "podinfo:2"))
    done = kubectl(runtime, "apply", "-f", str(files))
    assert done.returncode == 0, done.stderr
    revision = eventually(
        lambda: podinfo.state().canary_revision or None, timeout=15, what="a new revision"
    )
    podinfo.wait(Stage.HEALTHY, timeout=30, stable_revision=revision)


def test_applying_git_again_after_a_promotion_starts_nothing_and_diffs_clean(
    runtime: Runtime, podinfo: Demo, kube: Kube, tmp_path: Path
) -> None:
    files = git_files(tmp_path, "podinfo:1", replicas=None)
    released(runtime, podinfo, files)
    primary = kube.deployment(demo.NAMESPACE, f"{demo.NAME}-primary")
    assert workloads.replicas(primary) == 3  # spec.replicas, not the target's default of 1
    assert workloads.replicas(kube.deployment(demo.NAMESPACE, demo.NAME)) == 0
    pods = target_pods(kube)
    with Recorder(kube, "apps/v1", "deployments", demo.NAME) as target:
        done = kubectl(runtime, "apply", "-f", str(files))
        assert done.returncode == 0, done.stderr
        diff = kubectl(runtime, "diff", "-f", str(files))
        assert diff.returncode == 0, diff.stdout + diff.stderr  # 0: no difference
        assert kubectl(runtime, "apply", "-f", str(files)).returncode == 0
    assert target.versions(), "the watch saw the target"
    assert all(workloads.replicas(version) == 0 for version in target.versions())
    assert target_pods(kube) == pods
    assert podinfo.state().stage == Stage.HEALTHY


def test_the_primary_follows_spec_replicas(
    runtime: Runtime, podinfo: Demo, kube: Kube, tmp_path: Path
) -> None:
    files = git_files(tmp_path, "podinfo:1", replicas=None)
    assert kubectl(runtime, "apply", "-f", str(files)).returncode == 0
    podinfo.wait(Stage.HEALTHY, timeout=30)
    files.write_text(files.read_text().replace("replicas: 3", "replicas: 5"))
    assert kubectl(runtime, "apply", "-f", str(files)).returncode == 0

    def scaled() -> bool:
        primary = kube.deployment(demo.NAMESPACE, f"{demo.NAME}-primary")
        return workloads.replicas(primary) == 5

    eventually(scaled, timeout=15, what="the primary at spec.replicas 5")


def test_replicas_in_git_are_applied_again_and_put_back(
    runtime: Runtime, podinfo: Demo, kube: Kube, tmp_path: Path
) -> None:
    files = git_files(tmp_path, "podinfo:1", replicas=2)
    released(runtime, podinfo, files)
    with Recorder(kube, "apps/v1", "deployments", demo.NAME) as target:
        assert kubectl(runtime, "apply", "-f", str(files)).returncode == 0
        eventually(
            lambda: workloads.replicas(kube.deployment(demo.NAMESPACE, demo.NAME)) == 0,
            timeout=15,
            what="the target back at 0",
        )
    assert any(workloads.replicas(version) == 2 for version in target.versions())  # the churn


def test_the_primary_follows_spec_replicas_while_paused_and_after_an_abort(
    runtime: Runtime, podinfo: Demo, kube: Kube, tmp_path: Path
) -> None:
    files = git_files(tmp_path, "podinfo:1", replicas=None, steps=[*STEPS, {"pause": {}}])
    assert kubectl(runtime, "apply", "-f", str(files)).returncode == 0
    podinfo.wait(Stage.HEALTHY, timeout=30)
    files.write_text(files.read_text().replace("podinfo:1", "podinfo:2"))
    assert kubectl(runtime, "apply", "-f", str(files)).returncode == 0
    podinfo.wait(Stage.PAUSED, timeout=30)

    def primary_at(count: int) -> None:
        def scaled() -> bool:
            primary = kube.deployment(demo.NAMESPACE, f"{demo.NAME}-primary")
            return workloads.replicas(primary) == count

        eventually(scaled, timeout=15, what=f"the primary at spec.replicas {count}")

    for stage, count in ((Stage.PAUSED, 5), (Stage.ABORTED, 2)):
        if stage == Stage.ABORTED:
            publish(runtime, podinfo.command("abort"))
            podinfo.wait(Stage.ABORTED, timeout=30)
        text = re.sub(r"replicas: \d+", f"replicas: {count}", files.read_text())
        files.write_text(text)
        assert kubectl(runtime, "apply", "-f", str(files)).returncode == 0
        primary_at(count)
        assert podinfo.state().stage == stage
