"""``make demo``: a canary (or blue/green) release on the embedded runtime, printed as it happens.

Starts ``ferry up`` on the simulated cluster with a real Redis, creates a Deployment, the
router's objects (``make demo ROUTER=...``: an Ingress for nginx, the default; an HTTPRoute
for gatewayapi or a VirtualService for istio, with the upstream CRDs installed; nothing for
smi, whose TrafficSplit Ferry makes, or for none) and a Rollout (setWeight 20, pause 2s,
setWeight 50, pause 2s), waits until it is Healthy, changes the image and prints every
transition (time, step, weight, phase) from the rollout's history, with the weight the
router's own objects carry, until the new revision is promoted. ``make demo STRATEGY=bluegreen``
runs Argo Rollouts' blue/green instead (a preview of one replica, promoted after 2s, all traffic
switched at once, the previous revision kept warm 2s; with ``ROUTER=none`` the switch is the
active Service's selector). Exits 0 only if the promotion really happened.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from typing import Any

from local import upstream
from local.runtime import Options, Runtime
from local.sim.controllers import Settings as SimSettings
from shared import configs, models, routers
from shared.events import RolloutRef
from shared.kube import Kube
from shared.state import PHASES, Stage, StateStore

NAMESPACE = "default"
NAME = "podinfo"
TIMEOUT = 60.0
STEPS: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {"duration": "2s"}},
    {"setWeight": 50},
    {"pause": {"duration": "2s"}},
]
BLUE_GREEN: dict[str, Any] = {
    "previewReplicaCount": 1,
    "autoPromotionSeconds": 2,
    "scaleDownDelaySeconds": 2,
}


def deployment(image: str, replicas: int = 2) -> dict[str, Any]:
    labels = {"app": NAME}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "podinfo", "image": image, "ports": [{"containerPort": 9898}]}
                    ]
                },
            },
        },
    }


def ingress() -> dict[str, Any]:
    backend = {"service": {"name": NAME, "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": "podinfo.local",
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ],
        },
    }


ROUTERS = {
    "nginx": "nginx",
    "gatewayapi": "gatewayAPI",
    "istio": "istio",
    "smi": "smi",
    "none": models.BY_REPLICAS,
}
"""``--router`` choices (lowercase, as typed) -> the router's name."""


def router_of(choice: str) -> str:
    """The router named by ``ferry demo --router``."""
    try:
        return ROUTERS[choice.lower()]
    except KeyError:
        raise ValueError(f"unknown router {choice!r}: choose one of {', '.join(ROUTERS)}") from None


def http_route() -> dict[str, Any]:
    """The user's HTTPRoute for podinfo, as it would be kept in Git."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "hostnames": ["podinfo.local"],
            "rules": [{"backendRefs": [{"name": f"{NAME}-primary", "port": 80}]}],
        },
    }


def virtual_service() -> dict[str, Any]:
    """The user's Istio VirtualService for podinfo, as it would be kept in Git."""
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "hosts": ["podinfo.local"],
            "http": [{"name": "primary", "route": [{"destination": {"host": f"{NAME}-primary"}}]}],
        },
    }


def routing(router: str) -> dict[str, Any] | None:
    """``spec.trafficRouting`` for ``router`` (None: no router, replica counts)."""
    if router == "nginx":
        return {"nginx": {"stableIngress": NAME}}
    if router == "gatewayAPI":
        return {"gatewayAPI": {"httpRoute": NAME}}
    if router == "istio":
        return {"istio": {"virtualService": {"name": NAME, "routes": ["primary"]}}}
    if router == "smi":
        return {"smi": {}}
    return None


def rollout(steps: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": models.API_VERSION,
        "kind": models.KIND,
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
            "service": {"name": NAME, "port": 80, "targetPort": 9898},
            "trafficRouting": {"nginx": {"stableIngress": NAME}},
            "strategy": {"canary": {"steps": STEPS if steps is None else steps}},
            "progressDeadlineSeconds": 30,
            **spec,
        },
    }


class Timeline:
    """Prints the rollout's history entries as they are committed."""

    def __init__(self, store: StateStore, ref: RolloutRef, kube: Kube | None = None) -> None:
        self.store, self.ref, self.kube = store, ref, kube
        self.start = time.monotonic()
        self.seen = 0
        self.routed: int | None = None

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.2f}s] {text}", flush=True)

    def poll(self) -> None:
        entries = self.store.history(self.ref)
        for entry in entries[self.seen :]:
            stage = entry.get("to") or ""
            phase = PHASES[Stage(stage)] if stage in {s.value for s in Stage} else stage
            step = entry.get("step")
            weight = entry.get("weight")
            self.say(
                f"{phase:<11} step {'-' if step is None else step:>2}  "
                f"weight {'-' if weight is None else weight:>3}%  {entry.get('note', '')}"
            )
        self.seen = len(entries)
        self._routed()

    def _routed(self) -> None:
        """Say when the weight the router's objects carry changes (read from the cluster)."""
        if self.kube is None:
            return
        obj = self.kube.rollout(self.ref.namespace, self.ref.name)
        if obj is None or models.router_name(obj) == models.BY_REPLICAS:
            return
        name = models.router_name(obj)
        what = (
            "the active Service sends"
            if name == models.BY_SELECTOR
            else f"the {name} router's objects send"
        )
        try:
            spec = models.parse(obj)
            weight = routers.get(spec.router, self.kube).get_weight(spec)
        except (models.InvalidSpec, ValueError):
            return
        if weight is not None and weight != self.routed:
            self.routed = weight
            self.say(f"{'':<11} {what} {weight}% to the canary")


def wait_for(timeline: Timeline, predicate: Any, deadline: float, what: str) -> bool:
    while time.monotonic() < deadline:
        timeline.poll()
        if predicate():
            timeline.poll()
            return True
        time.sleep(0.05)
    timeline.say(f"gave up waiting for {what}")
    return False


def _create(kube: Kube, obj: dict[str, Any], plural: str) -> None:
    """Create a user's object of a kind Ferry never creates (a route)."""
    base = f"/apis/{obj['apiVersion']}/namespaces/{obj['metadata']['namespace']}"
    kube.request("POST", f"{base}/{plural}", body=obj)


def run(router: str = "nginx", *, strategy: str = "canary") -> int:
    options = Options(tick=5.0, sim_settings=SimSettings(pod_ready_delay=0.3))
    deadline = time.monotonic() + TIMEOUT
    with Runtime(options) as runtime:
        assert runtime.store is not None and runtime.sim is not None
        kube = Kube(runtime.sim.api_client())
        ref = RolloutRef(NAMESPACE, NAME)
        timeline = Timeline(runtime.store, ref, kube)
        timeline.say(f"Ferry is up: cluster {runtime.sim.url}, broker {runtime.broker_url}")
        timeline.say(f"kubectl --kubeconfig {runtime.kubeconfig} get rollouts")
        try:
            crds = upstream.install(kube, router)
        except FileNotFoundError as exc:
            timeline.say(str(exc))
            return 1
        if crds:
            timeline.say(f"installed the upstream CRDs {', '.join(crds)}")
        kube.create(deployment("ghcr.io/stefanprodan/podinfo:6.0.0"))
        made = "Deployment"
        if router == "nginx":
            kube.create(ingress())
            made += ", Ingress"
        elif router == "gatewayAPI":
            _create(kube, http_route(), "httproutes")
            made += ", HTTPRoute"
        elif router == "istio":
            _create(kube, virtual_service(), "virtualservices")
            made += ", VirtualService"
        spec: dict[str, Any] = {"trafficRouting": routing(router)}
        if strategy == "bluegreen":
            spec["strategy"] = {"blueGreen": BLUE_GREEN}
        obj = rollout(**spec)
        if spec["trafficRouting"] is None:
            del obj["spec"]["trafficRouting"]
        kube.create(obj)
        timeline.say(
            f"created {made} and Rollout podinfo (image podinfo:6.0.0, {strategy}, "
            f"{'no traffic router' if spec['trafficRouting'] is None else 'router ' + router})"
        )

        def state() -> Any:
            return runtime.store.load(ref)  # type: ignore[union-attr]

        if not wait_for(
            timeline, lambda: state().stage == Stage.HEALTHY, deadline, "the first revision"
        ):
            return 1
        first = state().stable_revision
        new_image = "ghcr.io/stefanprodan/podinfo:6.1.0"
        kube.merge_patch(
            "apps/v1",
            "deployments",
            NAMESPACE,
            NAME,
            {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "podinfo", "image": new_image}]}}
                }
            },
        )
        target = kube.deployment(NAMESPACE, NAME)
        assert target is not None
        new_revision = configs.revision(kube, target, None)
        timeline.say(f"changed the image to podinfo:6.1.0 (revision {first} -> {new_revision})")
        done = wait_for(
            timeline,
            lambda: (
                replace(state(), version=0).stable_revision == new_revision
                and state().stage == Stage.HEALTHY
                # the router's objects too (written just after the commit), as said below
                and timeline.routed in (None, 0)
            ),
            deadline,
            "the promotion",
        )
        primary = kube.deployment(NAMESPACE, f"{NAME}-primary")
        image = (
            (primary or {})
            .get("spec", {})
            .get("template", {})
            .get("spec", {})
            .get("containers", [{}])[0]
            .get("image")
        )
        if not done or image != new_image:
            timeline.say("the new revision was NOT promoted")
            return 1
        timeline.say(f"promoted: {NAME}-primary runs {image}; all traffic on the new revision")
    return 0


if __name__ == "__main__":
    sys.exit(run())
