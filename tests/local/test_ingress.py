"""The local ingress controller: a real nginx routing real requests to live Pods by Ingresses.

Driven with real ``kubectl`` (ingress-nginx's canary annotations, as in Flagger's and Argo
Rollouts' NGINX guides) and real HTTP through nginx. Covered: the measured split within a
tolerance of the weight; header and cookie routes with ingress-nginx's precedence (header >
cookie > weight, ``never``); a weight change applied by a graceful reload; no request lost across
reloads and across a Pod's deletion under steady load; 503 without endpoints; annotations that
cannot be carried are reported and ignored; nothing left running after stop.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from local.demoapp.launch import DemoApp
from local.ingress.controller import IngressController
from local.sim.cluster import Simulator
from local.sim.controllers import Settings
from tests.sim.conftest import Kubectl, eventually

LIVE = Settings(pod_ready_delay=0.1, job_run_seconds=0.1, tick=0.01, live=DemoApp(), live_drain=0.5)
HOST = "app.example.com"
PREFIX = "nginx.ingress.kubernetes.io"


def app(name: str, version: str, replicas: int = 2) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: podinfod
        image: ghcr.io/stefanprodan/podinfo:{version}
        ports: [{{name: http, containerPort: 9898}}]
        readinessProbe: {{httpGet: {{path: /readyz, port: 9898}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""


def ingress(name: str, service: str, annotations: dict[str, str] | None = None) -> str:
    document = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": HOST,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": service, "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    }
    return json.dumps(document)


def canary(**annotations: str) -> str:
    named = {f"{PREFIX}/canary": "true"}
    named.update({f"{PREFIX}/{k.replace('_', '-')}": v for k, v in annotations.items()})
    return ingress("podinfo-canary", "podinfo-canary", named)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Kubectl, IngressController]]:
    """A live simulator, its ingress controller, and podinfo 1.0.0 with a 2.0.0 canary."""
    with Simulator(settings=LIVE) as sim:
        api = sim.api_client()
        controller = IngressController(api).start()
        try:
            kubectl = Kubectl(sim.write_kubeconfig(tmp_path / "kubeconfig"))
            kubectl.run("apply", "-f", "-", input=app("podinfo", "1.0.0"))
            kubectl.run("apply", "-f", "-", input=app("podinfo-canary", "2.0.0"))
            kubectl.run("apply", "-f", "-", input=ingress("podinfo", "podinfo"))
            for name in ("podinfo", "podinfo-canary"):
                kubectl.run("rollout", "status", f"deployment/{name}", "--timeout=30s")
            yield kubectl, controller
        finally:
            controller.stop()
            api.close()


def client() -> requests.Session:
    """A session that, as any HTTP client does, sends a GET again when nginx's old worker
    closed its kept-alive connection at a reload (RFC 9112, 9.3.1: the server never read it);
    nothing else is retried."""
    session = requests.Session()
    retry = Retry(total=1, connect=1, read=1, status=0, other=0)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    return session


def versions(
    controller: IngressController,
    count: int,
    headers: dict[str, str] | None = None,
    *,
    host: str = HOST,
    path: str = "/",
    method: str = "GET",
) -> Counter[str]:
    """How many of ``count`` requests through nginx each version answered (by status
    otherwise)."""
    seen: Counter[str] = Counter()
    with client() as session:
        for _ in range(count):
            response = session.request(
                method, controller.url + path, headers={"Host": host, **(headers or {})}, timeout=10
            )
            seen[
                response.json()["version"]
                if response.status_code == 200
                else str(response.status_code)
            ] += 1
    return seen


def test_the_weight_splits_real_requests(world: tuple[Kubectl, IngressController]) -> None:
    kubectl, controller = world
    eventually(lambda: versions(controller, 5) == Counter({"1.0.0": 5}))
    loaded = controller.reloads
    kubectl.run("apply", "-f", "-", input=canary(canary_weight="20"))
    assert controller.wait_reloaded(loaded)
    eventually(lambda: versions(controller, 20)["2.0.0"] > 0)
    seen = versions(controller, 1000)
    assert set(seen) == {"1.0.0", "2.0.0"}
    assert 0.15 <= seen["2.0.0"] / 1000 <= 0.25, seen  # binomial: 4 standard deviations
    kubectl.run("apply", "-f", "-", input=canary(canary_weight="100"))
    eventually(lambda: versions(controller, 50) == Counter({"2.0.0": 50}))
    kubectl.run("apply", "-f", "-", input=canary(canary_weight="0"))
    eventually(lambda: versions(controller, 50) == Counter({"1.0.0": 50}))


def test_header_and_cookie_routes_follow_ingress_nginx_precedence(
    world: tuple[Kubectl, IngressController],
) -> None:
    kubectl, controller = world
    kubectl.run(
        "apply",
        "-f",
        "-",
        input=canary(canary_by_header="X-Canary", canary_by_cookie="canary", canary_weight="0"),
    )
    eventually(lambda: versions(controller, 5, {"X-Canary": "always"}) == Counter({"2.0.0": 5}))
    assert versions(controller, 20) == Counter({"1.0.0": 20})
    assert versions(controller, 20, {"Cookie": "a=1; canary=always"}) == Counter({"2.0.0": 20})
    assert versions(controller, 20, {"Cookie": "canary=maybe"}) == Counter({"1.0.0": 20})
    # header first: "never" wins over the cookie
    both = {"X-Canary": "never", "Cookie": "canary=always"}
    assert versions(controller, 20, both) == Counter({"1.0.0": 20})
    # any other header value is ignored: the cookie decides
    other = {"X-Canary": "perhaps", "Cookie": "canary=always"}
    assert versions(controller, 20, other) == Counter({"2.0.0": 20})

    kubectl.run(
        "apply",
        "-f",
        "-",
        input=canary(canary_by_header="X-Version", canary_by_header_pattern="^v2(\\.[0-9]+)?$"),
    )
    eventually(lambda: versions(controller, 5, {"X-Version": "v2.1"}) == Counter({"2.0.0": 5}))
    assert versions(controller, 20, {"X-Version": "v3"}) == Counter({"1.0.0": 20})
    kubectl.run(
        "apply",
        "-f",
        "-",
        input=canary(canary_by_header="X-Version", canary_by_header_value="blue"),
    )
    eventually(lambda: versions(controller, 5, {"X-Version": "blue"}) == Counter({"2.0.0": 5}))
    assert versions(controller, 20, {"X-Version": "always"}) == Counter({"1.0.0": 20})


def test_no_request_is_lost_across_reloads_and_a_pod_deletion(
    world: tuple[Kubectl, IngressController],
) -> None:
    kubectl, controller = world
    eventually(lambda: versions(controller, 5) == Counter({"1.0.0": 5}))
    stop = threading.Event()
    results: Counter[str] = Counter()

    def load() -> None:
        with client() as session:
            while not stop.is_set():
                try:
                    response = session.get(controller.url, headers={"Host": HOST}, timeout=10)
                    results[str(response.status_code)] += 1
                except requests.RequestException as exc:
                    results[type(exc).__name__] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        loaded = controller.reloads
        for weight in ("10", "30", "60", "0"):
            kubectl.run("apply", "-f", "-", input=canary(canary_weight=weight))
            assert controller.wait_reloaded(loaded)
            loaded = controller.reloads
        pods = kubectl.json("get", "pods", "-l", "app=podinfo")["items"]
        kubectl.run("delete", "pod", pods[0]["metadata"]["name"], "--wait=false")
        kubectl.run("rollout", "status", "deployment/podinfo", "--timeout=30s")
        eventually(lambda: sum(results.values()) > 500)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert controller.reloads >= 5
    assert set(results) == {"200"}, results


def test_without_endpoints_a_canary_is_skipped_and_a_main_backend_answers_503(
    world: tuple[Kubectl, IngressController],
) -> None:
    kubectl, controller = world
    kubectl.run("scale", "deployment/podinfo-canary", "--replicas=0")
    kubectl.run("apply", "-f", "-", input=canary(canary_weight="100"))
    # as ingress-nginx: a canary without endpoints has no balancer, the main backend answers
    eventually(lambda: not addresses_of(kubectl, "podinfo-canary"))
    assert eventually(lambda: versions(controller, 5) == Counter({"1.0.0": 5}))
    kubectl.run("scale", "deployment/podinfo", "--replicas=0")
    eventually(lambda: versions(controller, 5) == Counter({"503": 5}))


def addresses_of(kubectl: Kubectl, service: str) -> list[str]:
    found = kubectl.json("get", "endpoints", service)
    return [a["ip"] for s in found.get("subsets") or [] for a in s.get("addresses") or []]


def test_an_ingress_nginx_refuses_is_left_out_and_the_others_still_move(
    world: tuple[Kubectl, IngressController],
) -> None:
    kubectl, controller = world
    # Python's re takes \N{DIGIT ONE}; nginx's PCRE does not: nginx -t refuses the whole file
    kubectl.run(
        "apply",
        "-f",
        "-",
        input=canary(
            canary_by_header="X-Canary",
            canary_by_header_pattern="\\N{DIGIT ONE}",
            canary_weight="0",
        ),
    )
    eventually(lambda: any("nginx refuses it" in p for p in controller.problems))
    assert "default/podinfo-canary: nginx refuses it; left out" in controller.problems
    assert versions(controller, 5) == Counter({"1.0.0": 5})  # the main Ingress still routes
    kubectl.run("apply", "-f", "-", input=app("other", "3.0.0", replicas=1))
    kubectl.run("rollout", "status", "deployment/other", "--timeout=30s")
    routed = json.loads(ingress("other", "other"))
    routed["spec"]["rules"][0]["host"] = "other.example.com"
    kubectl.run("apply", "-f", "-", input=json.dumps(routed))

    def other_answers() -> bool:
        answer = requests.get(controller.url, headers={"Host": "other.example.com"}, timeout=5)
        return answer.status_code == 200 and answer.json()["version"] == "3.0.0"

    assert eventually(other_answers)


def test_ferry_up_runs_the_data_plane_and_leaves_nothing_running(tmp_path: Path) -> None:
    from local.runtime import Options, Runtime

    with Runtime(Options(tick=3600.0, data_plane=True)) as runtime:
        assert runtime.ingress is not None and runtime.ingress_url
        kubectl = Kubectl(Path(runtime.kubeconfig))
        kubectl.run("apply", "-f", "-", input=app("podinfo", "6.5.1", replicas=1))
        kubectl.run("apply", "-f", "-", input=ingress("podinfo", "podinfo"))
        kubectl.run("rollout", "status", "deployment/podinfo", "--timeout=30s")
        answered = eventually(
            lambda: versions(runtime.ingress, 1) == Counter({"6.5.1": 1}), timeout=20
        )
        assert answered
        (pod,) = kubectl.json("get", "pods", "-l", "app=podinfo")["items"]
        name, prefix = pod["metadata"]["name"], runtime.ingress.prefix
        load = runtime.served["load"]  # the load generator runs apart, as ferry serve load
        assert load.pid is not None and _runs(Path(f"/proc/{load.pid}"), "serve\0load")
        assert runtime.function_url("load") == load.url
        served = str(load.port)
    assert not prefix.exists()  # nginx's files went with it
    assert not [
        p
        for p in Path("/proc").glob("[0-9]*")
        if _runs(p, name) or _runs(p, str(prefix)) or _runs(p, f"--port\0{served}")
    ]


def _runs(proc: Path, text: str) -> bool:
    try:
        return text.encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return False


FLAGGER_SUCCESS_RATE = """
sum(rate(nginx_ingress_controller_requests{namespace="default",ingress="podinfo",canary!="",status!~"5.*"}[30s]))
/
sum(rate(nginx_ingress_controller_requests{namespace="default",ingress="podinfo",canary!=""}[30s]))
* 100
"""
"""Flagger's built-in ``request-success-rate`` for NGINX, its template filled in."""
FLAGGER_DURATION = """
sum(rate(nginx_ingress_controller_response_duration_seconds_sum{namespace="default",ingress="podinfo",canary!=""}[30s]))
/
sum(rate(nginx_ingress_controller_response_duration_seconds_count{namespace="default",ingress="podinfo",canary!=""}[30s]))
* 1000
"""
"""Flagger's built-in ``request-duration`` for NGINX (milliseconds)."""


def scalar(prometheus_url: str, query: str) -> float | None:
    answer = requests.get(f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=5)
    answer.raise_for_status()
    result = answer.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_answers_flaggers_nginx_queries_from_real_traffic() -> None:
    from local.runtime import Options, Runtime

    with Runtime(Options(tick=3600.0, data_plane=True)) as runtime:
        assert runtime.ingress is not None and runtime.prometheus_url
        kubectl = Kubectl(Path(runtime.kubeconfig))
        kubectl.run("apply", "-f", "-", input=app("podinfo", "1.0.0", replicas=1))
        kubectl.run("apply", "-f", "-", input=app("podinfo-canary", "2.0.0-slow20-errors50", 1))
        kubectl.run("apply", "-f", "-", input=ingress("podinfo", "podinfo"))
        kubectl.run("apply", "-f", "-", input=canary(canary_weight="50"))
        for name in ("podinfo", "podinfo-canary"):
            kubectl.run("rollout", "status", f"deployment/{name}", "--timeout=30s")
        eventually(lambda: "500" in versions(runtime.ingress, 10), timeout=20)
        seen = versions(runtime.ingress, 400)
        assert seen["2.0.0"] + seen["500"] > 100 and seen["1.0.0"] > 100, seen

        def settled(query: str) -> float | None:
            value = scalar(runtime.prometheus_url, query)
            return value if value is not None and value == value else None  # not NaN

        success = eventually(lambda: settled(FLAGGER_SUCCESS_RATE), timeout=30)
        assert 40 <= success <= 60, success  # -errors50: every other canary request fails
        latency = eventually(lambda: settled(FLAGGER_DURATION), timeout=30)
        assert latency >= 20, latency  # -slow20: the canary answers 20 ms late
        primary = 'sum(nginx_ingress_controller_requests{ingress="podinfo",canary=""})'
        at_least = seen["1.0.0"]  # (once Prometheus scraped the last of them)
        assert eventually(lambda: (settled(primary) or 0) >= at_least, timeout=30)
        # the live Pods are scraped too: the demo app's own counters, labelled with the Pod
        pods = 'count(up{job="kubernetes-pods",namespace="default"} == 1)'
        assert eventually(lambda: settled(pods) == 2, timeout=30)
        served = 'sum(http_requests_total{job="kubernetes-pods",service="podinfo-canary",path="/"})'
        assert eventually(lambda: (settled(served) or 0) >= seen["2.0.0"], timeout=30)
