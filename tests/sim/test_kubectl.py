"""The simulator as the real ``kubectl`` binary sees it.

Covers: ``create -f``, ``get -o json`` and tables, client-side ``apply`` (create, then update an
image), ``patch`` (merge and JSON), ``scale``, ``label``, ``wait --for=condition=Available``,
``get -w`` (watch events printed as they happen), ``replace`` with a stale resourceVersion,
``delete`` of a Deployment with garbage collection of its ReplicaSets and Pods, CRDs (objects,
``patch --subresource=status``, printer columns, ``api-resources``), and what ``kubectl create
deployment`` (a protobuf body) gets back.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time

import pytest

from tests.sim.conftest import Kubectl, eventually

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {tier: web}
data:
  colour: blue
"""

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.0
      - name: sidecar
        image: busybox:1
"""

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wg]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Phase, type: string, jsonPath: .status.phase}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
          status:
            type: object
            properties:
              phase: {type: string}
"""

WIDGET = """
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
spec:
  size: 3
"""


def lines_of(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """Lines of a running kubectl's stdout, as they are printed."""
    out: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return out


def next_line(lines: queue.Queue[str], timeout: float = 10.0) -> str:
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"kubectl printed nothing within {timeout}s") from None


def test_create_from_file_and_get_json(kubectl: Kubectl) -> None:
    out = kubectl.run("create", "-f", "-", input=CONFIGMAP + "---" + DEPLOYMENT).stdout
    assert "configmap/settings created" in out
    assert "deployment.apps/web created" in out
    cm = kubectl.json("get", "configmap", "settings")
    assert cm["data"] == {"colour": "blue"}
    assert cm["metadata"]["uid"] and cm["metadata"]["resourceVersion"]
    listed = kubectl.json("get", "deploy", "-l", "app=web")
    assert [d["metadata"]["name"] for d in listed["items"]] == ["web"]


def test_get_prints_server_side_tables(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", "-", input=CONFIGMAP)
    table = kubectl.run("get", "cm", "settings").stdout.splitlines()
    assert table[0].split() == ["NAME", "DATA", "AGE"]
    assert table[1].split()[:2] == ["settings", "1"]


def test_apply_creates_then_updates_a_deployment(kubectl: Kubectl) -> None:
    out = kubectl.run("apply", "--validate=false", "-f", "-", input=DEPLOYMENT).stdout
    assert "deployment.apps/web created" in out
    changed = DEPLOYMENT.replace("nginx:1.0", "nginx:2.0")
    out = kubectl.run("apply", "--validate=false", "-f", "-", input=changed).stdout
    assert "deployment.apps/web configured" in out
    deploy = kubectl.json("get", "deploy", "web")
    images = {c["name"]: c["image"] for c in deploy["spec"]["template"]["spec"]["containers"]}
    assert images == {"web": "nginx:2.0", "sidecar": "busybox:1"}
    assert deploy["metadata"]["generation"] == 2
    applied = deploy["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert "nginx:2.0" in applied
    again = kubectl.run("apply", "-f", "-", input=changed).stdout  # server-side validation on
    assert "deployment.apps/web unchanged" in again


def test_patch_merge_and_json(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", "-", input=CONFIGMAP)
    kubectl.run("patch", "cm", "settings", "--type=merge", "-p", '{"data":{"size":"L"}}')
    ops = '[{"op":"replace","path":"/data/colour","value":"red"}]'
    kubectl.run("patch", "cm", "settings", "--type=json", "-p", ops)
    assert kubectl.json("get", "cm", "settings")["data"] == {"colour": "red", "size": "L"}
    bad = '[{"op":"remove","path":"/data/missing"}]'
    failed = kubectl.run("patch", "cm", "settings", "--type=json", "-p", bad, check=False)
    assert failed.returncode != 0


def test_scale_a_deployment(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", "-", input=DEPLOYMENT)
    assert "deployment.apps/web scaled" in kubectl.run("scale", "deploy/web", "--replicas=5").stdout
    assert kubectl.json("get", "deploy", "web")["spec"]["replicas"] == 5


def test_label_adds_overwrites_and_removes(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", "-", input=CONFIGMAP)
    kubectl.run("label", "cm", "settings", "stage=canary")
    assert kubectl.run("label", "cm", "settings", "stage=stable", check=False).returncode != 0
    kubectl.run("label", "cm", "settings", "stage=stable", "--overwrite")
    assert kubectl.json("get", "cm", "settings")["metadata"]["labels"] == {
        "tier": "web",
        "stage": "stable",
    }
    kubectl.run("label", "cm", "settings", "tier-")
    names = kubectl.run("get", "cm", "-l", "stage=stable", "-o", "name").stdout.split()
    assert names == ["configmap/settings"]
    assert kubectl.json("get", "cm", "settings")["metadata"]["labels"] == {"stage": "stable"}


def test_wait_for_deployment_available(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", "-", input=DEPLOYMENT)
    out = kubectl.run(
        "wait", "--for=condition=Available", "deploy/web", "--timeout=20s", timeout=30
    ).stdout
    assert "condition met" in out
    status = kubectl.json("get", "deploy", "web")["status"]
    assert status["availableReplicas"] == 2


def test_get_watch_prints_changes_as_they_happen(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", "-", input=CONFIGMAP)
    proc = kubectl.popen("get", "cm", "-w", "--output-watch-events", "--no-headers")
    try:
        lines = lines_of(proc)
        assert next_line(lines).split()[:2] == ["ADDED", "settings"]
        kubectl.run("label", "cm", "settings", "stage=canary")
        assert next_line(lines).split()[:3] == ["MODIFIED", "settings", "1"]
        kubectl.run("delete", "cm", "settings")
        assert next_line(lines).split()[:2] == ["DELETED", "settings"]
    finally:
        proc.kill()
        proc.communicate()


def test_replace_with_a_stale_resource_version_is_refused(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", "-", input=CONFIGMAP)
    stale = kubectl.run("get", "cm", "settings", "-o", "json").stdout
    kubectl.run("label", "cm", "settings", "stage=canary")
    edited = json.loads(stale)
    edited["data"]["colour"] = "green"
    failed = kubectl.run("replace", "-f", "-", input=json.dumps(edited), check=False)
    assert failed.returncode != 0
    assert "Conflict" in failed.stderr
    assert "the object has been modified" in failed.stderr
    assert kubectl.json("get", "cm", "settings")["data"] == {"colour": "blue"}


def test_delete_deployment_collects_its_replicasets_and_pods(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", "-", input=DEPLOYMENT)
    kubectl.run("wait", "--for=condition=Available", "deploy/web", "--timeout=20s", timeout=30)
    owned = kubectl.run("get", "rs,pods", "-l", "app=web", "-o", "name").stdout.split()
    assert len([n for n in owned if n.startswith("pod/")]) == 2
    assert kubectl.run("delete", "deploy", "web").returncode == 0
    eventually(
        lambda: kubectl.run("get", "rs,pods", "-l", "app=web", "-o", "name").stdout.strip() == ""
    )


def test_custom_resources_get_and_status_patch(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", "-", input=CRD)
    assert "widget.example.com/w1 created" in kubectl.run("create", "-f", "-", input=WIDGET).stdout
    assert kubectl.json("get", "widgets", "w1")["spec"] == {"size": 3}
    kubectl.run(
        "patch",
        "wg",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Ready"},"spec":{"size":9}}',
    )
    widget = kubectl.json("get", "widget", "w1")
    assert widget["status"] == {"phase": "Ready"}
    assert widget["spec"] == {"size": 3}
    invalid = WIDGET.replace("size: 3", "size: 0")
    failed = kubectl.run("apply", "-f", "-", input=invalid, check=False)
    assert failed.returncode != 0
    assert "spec.size" in failed.stderr


def test_get_custom_resource_shows_printer_columns(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", "-", input=CRD)
    kubectl.run("create", "-f", "-", input=WIDGET)
    kubectl.run(
        "patch",
        "widget",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Ready"}}',
    )
    rows = [line.split() for line in kubectl.run("get", "widgets").stdout.splitlines()]
    assert rows == [["NAME", "SIZE", "PHASE"], ["w1", "3", "Ready"]]


def test_api_resources_lists_a_crd(kubectl: Kubectl) -> None:
    before = kubectl.run("api-resources", "-o", "name").stdout.split()
    assert "deployments.apps" in before and "widgets.example.com" not in before
    kubectl.run("create", "-f", "-", input=CRD)
    rows = kubectl.run("api-resources", "--api-group=example.com").stdout.splitlines()
    assert rows[1].split() == ["widgets", "wg", "example.com/v1", "true", "Widget"]


def test_create_deployment_subcommand_reports_protobuf(kubectl: Kubectl) -> None:
    """``kubectl create deployment`` sends protobuf; the simulator says so (or accepts it)."""
    proc = kubectl.run("create", "deployment", "nginx", "--image=nginx:1", check=False)
    if proc.returncode == 0:
        assert kubectl.json("get", "deploy", "nginx")["spec"]["replicas"] == 1
    else:
        assert "protobuf" in proc.stderr
        assert "application/json" in proc.stderr


@pytest.mark.parametrize("verb", ["get", "describe"])
def test_missing_object_is_reported_as_not_found(kubectl: Kubectl, verb: str) -> None:
    proc = kubectl.run(verb, "configmap", "nothing", check=False)
    assert proc.returncode != 0
    assert 'configmaps "nothing" not found' in proc.stderr


def test_rollout_status_follows_a_new_image(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=DEPLOYMENT)
    kubectl.run("rollout", "status", "deploy/web", "--timeout=20s", timeout=30)
    started = time.monotonic()
    kubectl.run("set", "image", "deploy/web", "web=nginx:2.0")
    out = kubectl.run("rollout", "status", "deploy/web", "--timeout=20s", timeout=30).stdout
    assert 'deployment "web" successfully rolled out' in out
    assert time.monotonic() - started < 15
    images = kubectl.run(
        "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.containers[0].image}"
    ).stdout.split()
    assert images and set(images) == {"nginx:2.0"}


def test_server_dry_run_and_diff_change_nothing(kubectl: Kubectl) -> None:
    out = kubectl.run("apply", "--dry-run=server", "-f", "-", input=CONFIGMAP).stdout
    assert "(server dry run)" in out
    assert kubectl.run("get", "cm", "settings", check=False).returncode != 0
    kubectl.run("apply", "-f", "-", input=CONFIGMAP)
    diff = kubectl.run("diff", "-f", "-", input=CONFIGMAP.replace("blue", "red"), check=False)
    assert diff.returncode == 1, diff.stderr  # 1: differences found
    assert "+  colour: red" in diff.stdout
    assert kubectl.json("get", "cm", "settings")["data"] == {"colour": "blue"}


def test_apply_removes_what_the_manifest_no_longer_has(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=DEPLOYMENT)
    slimmer = DEPLOYMENT.replace("  labels: {app: web}\nspec:", "spec:").replace(
        "      - name: sidecar\n        image: busybox:1\n", ""
    )
    kubectl.run("apply", "-f", "-", input=slimmer)
    deploy = kubectl.json("get", "deploy", "web")
    assert "labels" not in deploy["metadata"]
    assert [c["name"] for c in deploy["spec"]["template"]["spec"]["containers"]] == ["web"]


def test_create_a_list_manifest_with_generate_name(kubectl: Kubectl) -> None:
    manifest = """
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {generateName: run-}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: fixed}}
"""
    out = kubectl.run("create", "-f", "-", input=manifest).stdout.split("\n")
    assert out[0].startswith("configmap/run-") and out[0].endswith(" created")
    assert out[1] == "configmap/fixed created"


def test_delete_namespace_waits_until_it_is_empty_and_gone(kubectl: Kubectl) -> None:
    kubectl.run(
        "create", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: team}"
    )
    kubectl.run("apply", "-n", "team", "-f", "-", input=DEPLOYMENT)
    kubectl.run("wait", "-n", "team", "--for=condition=Available", "deploy/web", "--timeout=20s")
    kubectl.run("delete", "namespace", "team", "--timeout=20s", timeout=30)
    gone = kubectl.run("get", "namespace", "team", check=False)
    assert 'namespaces "team" not found' in gone.stderr
    leftovers = kubectl.run("get", "deploy,rs,pods", "-n", "team", "-o", "name").stdout
    assert leftovers.strip() == ""


def test_apply_with_an_unknown_field_of_a_custom_resource_is_refused(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", "-", input=CRD)
    kubectl.run("apply", "-f", "-", input=WIDGET)
    unknown = WIDGET + "  flavour: lemon\n"
    failed = kubectl.run("apply", "-f", "-", input=unknown, check=False)
    assert failed.returncode != 0
    assert 'unknown field "spec.flavour"' in failed.stderr
    kubectl.run("apply", "--validate=false", "-f", "-", input=unknown)
    assert kubectl.json("get", "widget", "w1")["spec"] == {"size": 3}
