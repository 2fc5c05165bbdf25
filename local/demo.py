"""``make demo``: what the embedded runtime can show today.

Starts the Kubernetes API simulator, creates a Deployment through the official client over HTTP,
changes its image and prints the Pods rolling over until the new revision is fully available.
Exits 0 only if the rollout really completed. It prints; it asserts nothing else.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from kubernetes import client, watch

from local.sim.cluster import Simulator
from local.sim.controllers import Settings

NAMESPACE = "default"
NAME = "podinfo"
REPLICAS = 4
TIMEOUT = 60.0


def _deployment(image: str) -> dict[str, Any]:
    labels = {"app": NAME}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "labels": labels},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


class Timeline:
    """Prints one line per observed change, with the time since the demo started."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.2f}s] {text}", flush=True)


def _pods_line(core: client.CoreV1Api) -> str:
    pods = core.list_namespaced_pod(NAMESPACE, label_selector=f"app={NAME}").items
    by_image: dict[str, list[int]] = {}
    for pod in pods:
        image = pod.spec.containers[0].image
        ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        counts = by_image.setdefault(image, [0, 0])
        counts[0] += 1
        counts[1] += int(ready)
    return ", ".join(
        f"{image}: {total} pods ({ready} ready)"
        for image, (total, ready) in sorted(by_image.items())
    )


def _rolled_out(apps: client.AppsV1Api, image: str) -> bool:
    dep = apps.read_namespaced_deployment(NAME, NAMESPACE)
    status = dep.status
    return bool(
        dep.spec.template.spec.containers[0].image == image
        and status.observed_generation == dep.metadata.generation
        and status.updated_replicas == REPLICAS
        and status.available_replicas == REPLICAS
        and (status.replicas or 0) == REPLICAS
    )


def _follow(api: client.ApiClient, timeline: Timeline, image: str) -> bool:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    last = ""
    deadline = time.monotonic() + TIMEOUT
    stream = watch.Watch()
    rv = core.list_namespaced_pod(NAMESPACE).metadata.resource_version
    for _event in stream.stream(
        core.list_namespaced_pod,
        NAMESPACE,
        label_selector=f"app={NAME}",
        resource_version=rv,
        timeout_seconds=int(TIMEOUT),
    ):
        line = _pods_line(core)
        if line != last:
            timeline.say(line)
            last = line
        if _rolled_out(apps, image) or time.monotonic() > deadline:
            stream.stop()
    return _rolled_out(apps, image)


def run() -> int:
    timeline = Timeline()
    with Simulator(settings=Settings(pod_ready_delay=0.6)) as sim:
        timeline.say(f"Kubernetes API simulator serving at {sim.url}")
        api = sim.api_client()
        apps = client.AppsV1Api(api)
        apps.create_namespaced_deployment(NAMESPACE, _deployment("podinfo:6.0.0"))
        timeline.say(f"created Deployment {NAME} ({REPLICAS} replicas, image podinfo:6.0.0)")
        if not _follow(api, timeline, "podinfo:6.0.0"):
            timeline.say("the first revision never became available")
            return 1
        timeline.say("Deployment available; changing the image to podinfo:6.1.0")
        apps.patch_namespaced_deployment(
            NAME,
            NAMESPACE,
            {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "app", "image": "podinfo:6.1.0"}]}
                    }
                }
            },
        )
        if not _follow(api, timeline, "podinfo:6.1.0"):
            timeline.say("the rollout did not complete in time")
            return 1
        sets = apps.list_namespaced_replica_set(NAMESPACE, label_selector=f"app={NAME}").items
        for rs in sorted(sets, key=lambda r: r.metadata.creation_timestamp):
            revision = (rs.metadata.annotations or {}).get("deployment.kubernetes.io/revision")
            timeline.say(
                f"ReplicaSet {rs.metadata.name} (revision {revision}): "
                f"{rs.status.replicas or 0} replicas"
            )
        timeline.say("rolled over: every Pod runs podinfo:6.1.0 and is ready")
    return 0


if __name__ == "__main__":
    sys.exit(run())
