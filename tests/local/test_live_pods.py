"""Live Pods: the simulated kubelet runs the demo app as real processes (``Settings.live``).

Driven through real ``kubectl`` and plain HTTP to the addresses the Endpoints list, with
Flagger's podinfo Deployment (its ports, probes, a ConfigMap mounted and read into the env).
Covered: real addresses that answer with their Pod's name and version; readiness from the real
probe; a ConfigMap edit reaching the mounted files but not the env; a Pod waiting for a missing
ConfigMap; a crashing release running but never ready; an exited process restarted; a deleted
Pod's process ended; other images still pretend; nothing left running after the simulator stops.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.demoapp.launch import DemoApp
from local.sim.cluster import Simulator
from local.sim.controllers import Settings
from tests.sim.conftest import Kubectl, eventually

LIVE = Settings(pod_ready_delay=0.1, job_run_seconds=0.1, tick=0.01, live=DemoApp(), live_drain=0.2)


@pytest.fixture
def live() -> Iterator[Simulator]:
    with Simulator(settings=LIVE) as simulator:
        yield simulator


@pytest.fixture
def kubectl(live: Simulator, tmp_path: Path) -> Kubectl:
    return Kubectl(live.write_kubeconfig(tmp_path / "kubeconfig"))


def podinfo(image: str = "ghcr.io/stefanprodan/podinfo:6.5.1", replicas: int = 2) -> str:
    """Flagger's podinfo Deployment (trimmed), reading a ConfigMap into its env and files."""
    return f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: podinfo-config}}
data:
  message: hello from git
  settings.yaml: "level: 1"
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: podinfo, labels: {{app: podinfo}}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: podinfo}}}}
  template:
    metadata: {{labels: {{app: podinfo}}}}
    spec:
      containers:
      - name: podinfod
        image: {image}
        command: [./podinfo, --port=9898, --port-metrics=9797]
        ports:
        - {{name: http, containerPort: 9898, protocol: TCP}}
        - {{name: http-metrics, containerPort: 9797, protocol: TCP}}
        readinessProbe:
          httpGet: {{path: /readyz, port: http}}
          periodSeconds: 5
        env:
        - name: PODINFO_UI_MESSAGE
          valueFrom: {{configMapKeyRef: {{name: podinfo-config, key: message}}}}
        volumeMounts:
        - {{name: config, mountPath: /config}}
      volumes:
      - name: config
        configMap: {{name: podinfo-config}}
---
apiVersion: v1
kind: Service
metadata: {{name: podinfo}}
spec:
  selector: {{app: podinfo}}
  ports:
  - {{name: http, port: 9898, targetPort: http}}
"""


def addresses(kubectl: Kubectl, service: str = "podinfo", ready: bool = True) -> list[str]:
    """``ip:port`` of the Service's ready (or not-ready) Endpoints addresses."""
    found = kubectl.json("get", "endpoints", service)
    key = "addresses" if ready else "notReadyAddresses"
    return sorted(
        f"{address['ip']}:{port['port']}"
        for subset in found.get("subsets") or []
        for address in subset.get(key) or []
        for port in subset.get("ports") or []
    )


def answer(address: str, path: str = "/") -> dict[str, Any]:
    response = requests.get(f"http://{address}{path}", timeout=5)
    response.raise_for_status()
    return dict(response.json())


def status_code(address: str, path: str) -> int:
    """The HTTP status of a GET, 0 while nothing listens."""
    try:
        return requests.get(f"http://{address}{path}", timeout=5).status_code
    except requests.ConnectionError:
        return 0


def processes(pod_fragment: str) -> list[int]:
    """Pids of demo-app processes whose command line names a Pod containing ``pod_fragment``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        demo = any(b"local.demoapp" in a for a in argv)
        if demo and any(pod_fragment.encode() in a for a in argv):
            found.append(int(entry.name))
    return found


def test_a_podinfo_deployment_runs_real_pods_behind_its_service(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=podinfo())
    kubectl.run("rollout", "status", "deployment/podinfo", "--timeout=30s")
    found = eventually(lambda: len(a := addresses(kubectl)) == 2 and a)
    pods = {
        p["status"]["podIP"]: p for p in kubectl.json("get", "pods", "-l", "app=podinfo")["items"]
    }
    assert {a.split(":")[0] for a in found} == set(pods)
    for address in found:
        ip = address.split(":")[0]
        assert ip.startswith("127.") and address.endswith(":9898")
        body = answer(address)
        assert body["hostname"] == pods[ip]["metadata"]["name"]
        assert body["version"] == "6.5.1"
        assert body["message"] == "hello from git"
        assert body["config"] == {"message": "hello from git", "settings.yaml": "level: 1"}
        assert answer(f"{ip}:9797", "/healthz") == {"status": "OK"}  # every declared port
        (status,) = pods[ip]["status"]["containerStatuses"]
        assert status["ready"] and status["started"] and "running" in status["state"]
    metrics = requests.get(f"http://{found[0]}/metrics", timeout=5).text
    assert 'http_requests_total{method="GET",path="/",status="200"} 1.0' in metrics


def test_a_configmap_edit_reaches_the_mounted_files_but_not_the_env(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=podinfo(replicas=1))
    (address,) = eventually(lambda: addresses(kubectl))
    patch = json.dumps({"data": {"message": "edited", "settings.yaml": "level: 2"}})
    kubectl.run("patch", "configmap", "podinfo-config", "--type=merge", "-p", patch)
    body = eventually(lambda: (b := answer(address))["config"]["settings.yaml"] == "level: 2" and b)
    assert body["config"]["message"] == "edited"
    assert body["message"] == "hello from git"  # as on a cluster: env is read at start


def test_a_pod_waits_for_its_configmap_and_starts_when_it_comes(kubectl: Kubectl) -> None:
    manifest = podinfo(replicas=1).split("---", 1)[1]  # without the ConfigMap
    kubectl.run("apply", "-f", "-", input=manifest)

    def waiting() -> str:
        pods = kubectl.json("get", "pods", "-l", "app=podinfo")["items"]
        statuses = pods[0]["status"].get("containerStatuses") if pods else None
        return str(statuses[0]["state"].get("waiting", {}).get("message", "")) if statuses else ""

    assert eventually(waiting) == (  # the volume is mounted first, as by a kubelet
        'MountVolume.SetUp failed for volume "config": configmap "podinfo-config" not found'
    )
    (pod,) = kubectl.json("get", "pods", "-l", "app=podinfo")["items"]
    assert not addresses(kubectl) and not processes(pod["metadata"]["name"])
    kubectl.run("apply", "-f", "-", input=podinfo(replicas=1).split("---", 1)[0])
    (address,) = eventually(lambda: addresses(kubectl))
    assert answer(address)["message"] == "hello from git"


def test_a_crashing_release_runs_but_never_gets_ready(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=podinfo("podinfo:2.0.0-crash", replicas=1))
    (address,) = eventually(lambda: addresses(kubectl, ready=False))
    (pod,) = kubectl.json("get", "pods", "-l", "app=podinfo")["items"]
    eventually(lambda: status_code(address, "/readyz") == 503)
    time.sleep(0.5)  # probes keep failing
    assert not addresses(kubectl)
    (status,) = kubectl.json("get", "pod", pod["metadata"]["name"])["status"]["containerStatuses"]
    assert "running" in status["state"] and not status["ready"]


def test_a_process_that_exits_is_restarted_and_counted(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=podinfo(replicas=1))
    (address,) = eventually(lambda: addresses(kubectl))
    name = answer(address)["hostname"]
    (pid,) = processes(name)
    os.kill(pid, signal.SIGKILL)

    def restarted() -> dict[str, Any] | None:
        (status,) = kubectl.json("get", "pod", name)["status"]["containerStatuses"]
        return status if status["restartCount"] == 1 and status["ready"] else None

    status = eventually(restarted)
    assert status["lastState"]["terminated"]["exitCode"] == 128 + signal.SIGKILL
    assert answer(address)["hostname"] == name
    assert processes(name) and processes(name) != [pid]


def test_a_deleted_pods_process_ends_and_its_replacement_answers(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=podinfo(replicas=1))
    (address,) = eventually(lambda: addresses(kubectl))
    name = answer(address)["hostname"]
    kubectl.run("delete", "pod", name, "--wait=false")
    eventually(lambda: not processes(name), timeout=10)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{address}/", timeout=5)
    (replacement,) = eventually(lambda: addresses(kubectl))
    assert answer(replacement)["hostname"] != name


def test_other_images_stay_pretend(kubectl: Kubectl) -> None:
    web = podinfo("nginx:1.27", replicas=1).replace("podinfo", "web").split("---")[1]
    kubectl.run("apply", "-f", "-", input=web)
    kubectl.run("rollout", "status", "deployment/web", "--timeout=30s")
    (pod,) = kubectl.json("get", "pods", "-l", "app=web")["items"]
    assert pod["status"]["podIP"].startswith("10.244.")
    assert not processes("web-")


def test_stopping_the_simulator_ends_every_process(tmp_path: Path) -> None:
    sim = Simulator(settings=LIVE).start()
    try:
        kubectl = Kubectl(sim.write_kubeconfig(tmp_path / "kubeconfig"))
        kubectl.run("apply", "-f", "-", input=podinfo(replicas=2))
        eventually(lambda: len(addresses(kubectl)) == 2)
        names = [p["metadata"]["name"] for p in kubectl.json("get", "pods")["items"]]
        assert all(processes(name) for name in names)
    finally:
        sim.stop()
    assert not any(processes(name) for name in names)


def test_a_pod_cannot_change_how_this_host_runs_its_process(kubectl: Kubectl) -> None:
    """A Pod's env and volumes stay the Pod's: PYTHONPATH to a mounted ConfigMap holding a
    ``local`` package, LD_PRELOAD, a volume named ``..``: the demo app still runs, unchanged."""
    evil = podinfo(replicas=1).replace(
        "        env:\n",
        "        env:\n        - {name: PYTHONPATH, value: 'volumes/config:../volumes/config'}\n"
        "        - {name: LD_PRELOAD, value: /nonexistent.so}\n",
    )
    evil = evil.replace(
        '  settings.yaml: "level: 1"\n',
        '  settings.yaml: "level: 1"\n  local.py: "raise SystemExit(\'hijacked\')"\n',
    )
    kubectl.run("apply", "-f", "-", input=evil)
    (address,) = eventually(lambda: addresses(kubectl))
    body = answer(address)
    assert body["version"] == "6.5.1" and "local.py" in body["config"]
    kubectl.run("delete", "deployment", "podinfo")
    dots = evil.replace("name: config, mountPath", "name: '..', mountPath")
    dots = dots.replace("      - name: config\n", "      - name: '..'\n")
    kubectl.run("apply", "-f", "-", input=dots)
    (address,) = eventually(lambda: (a := addresses(kubectl)) and a[0] != address and a)
    body = answer(address)  # a volume named ".." is not written (nor into the Pod's files)
    assert body["version"] == "6.5.1" and body["config"] == {}
