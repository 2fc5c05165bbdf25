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

With the nginx router (and gatewayapi) it runs on the local data plane: the Pods are real
processes, a real nginx routes by the Ingresses (HTTPRoutes) Ferry writes, steady traffic goes
through it all along, and each time the weight moves the demo prints the share of requests the
new revision really served at the previous weight (``weight 20%: the new revision served 19.6%
of 412 requests``). A background analysis asks the data plane's real Prometheus Flagger's NGINX
success rate of the canary every second (nginx router).
``make demo SCENARIO=bad-release`` releases ``podinfo:6.1.0-errors50`` instead: the analysis
fails, the rollout aborts, traffic leaves the canary, and the demo prints how many user
requests failed (exit 0 only if the abort really happened). ``make demo SCENARIO=no-users``
releases the same bad revision with no users at all, as in a quiet test environment: the
Rollout's ``spec.loadTest`` makes Ferry send its own load (50 requests a second through nginx)
while the canary runs, the analysis catches the errors in it, the rollout aborts and the load
stops by itself; the demo prints the load's progress as ``status.loadTest`` shows it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

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
LIVE_STEPS: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {"duration": "5s"}},
    {"setWeight": 50},
    {"pause": {"duration": "5s"}},
]
"""On the data plane: pauses long enough for Prometheus to have scraped the canary's requests
twice (a rate needs two samples) before the weight moves on."""
BLUE_GREEN: dict[str, Any] = {
    "previewReplicaCount": 1,
    "autoPromotionSeconds": 2,
    "scaleDownDelaySeconds": 2,
}


SCENARIOS = ("good-release", "bad-release", "no-users")
LOAD_RATE = 50
"""Requests per second of Ferry's own load in the no-users scenario (``spec.loadTest``)."""
HOST = "podinfo.local"
RATE = 150
"""Requests per second the demo's users send through nginx (with the nginx router)."""
SUCCESS_RATE = (
    'sum(rate(nginx_ingress_controller_requests{namespace="default",ingress="podinfo",'
    'canary!="",status!~"5.*"}[30s])) / sum(rate(nginx_ingress_controller_requests'
    '{namespace="default",ingress="podinfo",canary!=""}[30s])) * 100'
)
"""Flagger's built-in ``request-success-rate`` for NGINX, its template filled in."""


def success_rate_template(prometheus: str) -> dict[str, Any]:
    """An AnalysisTemplate asking the data plane's Prometheus the canary's success rate."""
    return {
        "apiVersion": models.API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {"name": "success-rate", "namespace": NAMESPACE},
        "spec": {
            "metrics": [
                {
                    "name": "success-rate",
                    "interval": "1s",
                    "successCondition": "result[0] >= 95",
                    "failureLimit": 0,
                    "inconclusiveLimit": 10,  # no canary request scraped yet: no data
                    "provider": {"prometheus": {"address": prometheus, "query": SUCCESS_RATE}},
                }
            ]
        },
    }


class Users:
    """Steady traffic through nginx, tallied by version and by the weight at the time."""

    def __init__(self, url: str, stable_version: str, rate: int = RATE) -> None:
        self.url, self.stable, self.rate = url, stable_version, rate
        self.window: Counter[str] = Counter()
        self.failed = 0
        self.sent = 0
        self.reasons: Counter[str] = Counter()
        """Why requests failed: an HTTP status, or the client's error."""
        self.failures: list[float] = []
        """When each failed request was answered (``time.monotonic()``)."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._send, name=f"demo-user-{i}", daemon=True)
            for i in range(4)
        ]

    def __enter__(self) -> Users:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _send(self) -> None:
        every = len(self._threads) / self.rate
        # as browsers do, a GET on a kept-alive connection nginx closed at a reload is sent
        # again (RFC 9112, 9.3.1): the server never read it
        retry = Retry(total=1, connect=1, read=1, status=0, other=0)
        with requests.Session() as session:
            session.mount("http://", HTTPAdapter(max_retries=retry))
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    answer = session.get(self.url, headers={"Host": HOST}, timeout=10)
                    try:  # the demo app says its version in its errors too
                        version = str(answer.json().get("version", ""))
                    except ValueError:
                        version = ""
                    outcome = "canary" if version and version != self.stable else "stable"
                    failed = not answer.ok
                    reason = str(answer.status_code)
                except (requests.RequestException, ValueError) as exc:
                    outcome, failed, reason = "stable", True, type(exc).__name__
                with self._lock:
                    self.sent += 1
                    self.window[outcome] += 1
                    if failed:
                        self.failures.append(time.monotonic())
                        self.failed += 1
                        self.window["failed"] += 1
                        self.reasons[reason] += 1
                self._stop.wait(max(0.0, every - (time.monotonic() - started)))

    def close_window(self) -> Counter[str]:
        """The tally since the last call."""
        with self._lock:
            window, self.window = self.window, Counter()
        return window


def answers(url: str) -> bool:
    """Whether nginx answers the podinfo host with 200 (its Endpoints were read)."""
    try:
        return all(requests.get(url, headers={"Host": HOST}, timeout=5).ok for _ in range(5))
    except requests.RequestException:
        return False


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
                        {
                            "name": "podinfo",
                            "image": image,
                            "ports": [{"name": "http", "containerPort": 9898}],
                            "readinessProbe": {"httpGet": {"path": "/readyz", "port": 9898}},
                        }
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
                    "host": HOST,
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
        self.users: Users | None = None
        """With the data plane: the traffic whose split is said when the weight moves."""

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
            self.measured()
            self.routed = weight
            self.say(f"{'':<11} {what} {weight}% to the canary")

    def measured(self) -> None:
        """Say what the users' requests met since the weight last moved."""
        if self.users is None:
            return
        window = self.users.close_window()
        total = window["stable"] + window["canary"]
        if self.routed is None or total == 0:
            return
        failed = f", {window['failed']:,} failed" if window["failed"] else ""
        self.say(
            f"{'':<11} weight {self.routed}%: the new revision served "
            f"{100 * window['canary'] / total:.1f}% of {total:,} requests{failed}"
        )


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


def run(router: str = "nginx", *, strategy: str = "canary", scenario: str = "good-release") -> int:
    live = router in ("nginx", "gatewayAPI")  # the routers the local nginx serves
    options = Options(tick=5.0, sim_settings=SimSettings(pod_ready_delay=0.3), data_plane=live)
    deadline = time.monotonic() + TIMEOUT
    with Runtime(options) as runtime:
        assert runtime.store is not None and runtime.sim is not None
        kube = Kube(runtime.sim.api_client())
        ref = RolloutRef(NAMESPACE, NAME)
        timeline = Timeline(runtime.store, ref, kube)
        timeline.say(f"Ferry is up: cluster {runtime.sim.url}, broker {runtime.broker_url}")
        timeline.say(f"kubectl --kubeconfig {runtime.kubeconfig} get rollouts")
        if live:
            timeline.say(
                f"data plane: nginx at {runtime.ingress_url} (Host: {HOST}), Prometheus at "
                f"{runtime.prometheus_url}"
            )
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
        elif router == "nginx":  # (ingress-nginx's metrics: the Ingresses' requests)
            kube.create(success_rate_template(runtime.prometheus_url))
            made += ", AnalysisTemplate success-rate"
            spec["strategy"] = {
                "canary": {
                    "steps": LIVE_STEPS,
                    "analysis": {"templates": [{"templateName": "success-rate"}]},
                }
            }
        quiet = scenario == "no-users"
        if quiet:
            spec["loadTest"] = {
                "url": f"{runtime.ingress_url}/",
                "headers": {"Host": HOST},
                "rps": LOAD_RATE,
                "concurrency": 8,
            }
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
        bad = scenario in ("bad-release", "no-users")
        new_image = "ghcr.io/stefanprodan/podinfo:6.1.0" + ("-errors50" if bad else "")
        users = None
        if live:
            url = runtime.ingress_url
            if not wait_for(timeline, lambda: answers(url), deadline, "nginx to serve it"):
                return 1
            if quiet:
                timeline.say(
                    f"no users: Ferry sends {LOAD_RATE} requests a second through nginx while "
                    "the canary runs (spec.loadTest)"
                )
            else:
                users = Users(runtime.ingress_url, "6.0.0").__enter__()
                timeline.users = users
                timeline.say(f"users send {RATE} requests per second through nginx")
        try:
            done = _release(kube, timeline, state, first, new_image, deadline, bad)
            if quiet and not _load_stopped(kube, timeline, deadline):
                return 1
            return done
        finally:
            if users is not None:
                users.__exit__(None, None, None)
                timeline.measured()
                why = ", ".join(f"{n:,} {reason}" for reason, n in users.reasons.most_common())
                timeline.say(
                    f"users sent {users.sent:,} requests; {users.failed:,} failed"
                    + (f" ({why})" if why else "")
                )


def _load_stopped(kube: Kube, timeline: Timeline, deadline: float) -> bool:
    """Wait until ``status.loadTest`` says the load stopped, and say what it did."""

    def shown() -> dict[str, Any]:
        found = ((kube.rollout(NAMESPACE, NAME) or {}).get("status") or {}).get("loadTest")
        return found if isinstance(found, dict) else {}

    if not wait_for(timeline, lambda: shown().get("phase") == "Stopped", deadline, "the load"):
        timeline.say("the load did NOT stop")
        return False
    load = shown()
    timeline.say(
        f"Ferry's load: {load.get('sent', 0):,} requests sent at {load.get('achievedRPS')}/s, "
        f"{load.get('errors', 0):,} failed; stopped by itself: {load.get('message')}"
    )
    return True


def _release(
    kube: Kube,
    timeline: Timeline,
    state: Any,
    first: str | None,
    new_image: str,
    deadline: float,
    bad: bool,
) -> int:
    """Change the image and follow the rollout to its promotion (or, for a bad release, its
    abort); 0 when it ended as it should."""
    containers = deployment(new_image)["spec"]["template"]["spec"]["containers"]
    kube.merge_patch(  # (a merge patch replaces the list: the whole container, as in Git)
        "apps/v1",
        "deployments",
        NAMESPACE,
        NAME,
        {"spec": {"template": {"spec": {"containers": containers}}}},
    )
    target = kube.deployment(NAMESPACE, NAME)
    assert target is not None
    new_revision = configs.revision(kube, target, None)
    tag = new_image.rsplit(":", 1)[1]
    timeline.say(f"changed the image to podinfo:{tag} (revision {first} -> {new_revision})")
    if bad:
        aborted = wait_for(
            timeline,
            lambda: state().stage == Stage.ABORTED and timeline.routed == 0,
            deadline,
            "the abort",
        )
        if not aborted:
            timeline.say("the bad release was NOT aborted")
            return 1
        timeline.say("aborted: all traffic back on the stable revision")
        return 0
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
