"""The local nginx serves HTTPRoutes: weights, header and method matches, mirroring, 404s.

Real ``kubectl`` applies the Gateway API's CRD and an HTTPRoute shaped as Ferry's gatewayAPI
router writes it (weighted ``backendRefs``, a rule matching a header, a ``RequestMirror``
filter); real HTTP through nginx measures where requests go. Covered: the split within a
tolerance of the weights; a header rule taking precedence over the weighted rule (more header
matches) and a regex header; a method match; an exact path over a prefix; element-wise prefixes;
404 where no rule matches; 500 where a rule's weights are all 0; every request mirrored to a
Service whose answers are never seen; what cannot be carried reported; HTTPRoutes appearing
once their CRD does.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local import upstream
from local.ingress.controller import IngressController
from local.sim.cluster import Simulator
from shared.kube import Kube
from tests.local.test_ingress import LIVE, app
from tests.local.test_ingress import versions as through_nginx
from tests.sim.conftest import Kubectl, eventually

HOST = "shop.example.com"


def http_route(rules: list[dict[str, Any]], name: str = "podinfo") -> str:
    return json.dumps(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": name},
            "spec": {"parentRefs": [{"name": "public"}], "hostnames": [HOST], "rules": rules},
        }
    )


def ref(service: str, weight: int | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"name": service, "port": 80}
    if weight is not None:
        found["weight"] = weight
    return found


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Kubectl, IngressController, Simulator]]:
    with Simulator(settings=LIVE) as sim:
        api = sim.api_client()
        controller = IngressController(api).start()
        try:
            kubectl = Kubectl(sim.write_kubeconfig(tmp_path / "kubeconfig"))
            upstream.install(Kube(api), "gatewayAPI")
            for name, version in (
                ("podinfo-primary", "1.0.0"),
                ("podinfo-canary", "2.0.0"),
                ("mirror", "9.9.9"),
            ):
                kubectl.run("apply", "-f", "-", input=app(name, version, replicas=1))
            for name in ("podinfo-primary", "podinfo-canary", "mirror"):
                kubectl.run("rollout", "status", f"deployment/{name}", "--timeout=30s")
            yield kubectl, controller, sim
        finally:
            controller.stop()
            api.close()


def versions(
    controller: IngressController,
    count: int,
    headers: dict[str, str] | None = None,
    path: str = "/",
    method: str = "GET",
) -> Counter[str]:
    """As ``test_ingress.versions``, for this module's host."""
    return through_nginx(controller, count, headers, host=HOST, path=path, method=method)


def served(address: str) -> float:
    """Requests the demo app at ``address`` counted (its own metrics, every path)."""
    text = requests.get(f"http://{address}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("http_requests_total{")
    )


def test_weights_headers_methods_and_paths(
    world: tuple[Kubectl, IngressController, Simulator],
) -> None:
    kubectl, controller, _ = world
    rules = [
        {"backendRefs": [ref("podinfo-primary", 80), ref("podinfo-canary", 20)]},
        {
            "matches": [{"headers": [{"name": "X-Canary", "value": "always"}]}],
            "backendRefs": [ref("podinfo-canary")],
        },
        {
            "matches": [
                {"headers": [{"type": "RegularExpression", "name": "X-Version", "value": "^v2"}]}
            ],
            "backendRefs": [ref("podinfo-canary")],
        },
        {"matches": [{"method": "DELETE"}], "backendRefs": [ref("podinfo-canary")]},
        {
            "matches": [{"path": {"type": "Exact", "value": "/api/exact"}}],
            "backendRefs": [ref("podinfo-canary")],
        },
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/none"}}],
            "backendRefs": [ref("podinfo-canary", 0)],
        },
    ]
    kubectl.run("apply", "-f", "-", input=http_route(rules))
    eventually(lambda: versions(controller, 5, {"X-Canary": "always"}) == Counter({"2.0.0": 5}))
    seen = versions(controller, 1000)
    assert 0.15 <= seen["2.0.0"] / 1000 <= 0.25, seen  # binomial: 4 standard deviations
    assert versions(controller, 20, {"X-Canary": "never"})["2.0.0"] < 20
    assert versions(controller, 20, {"X-Version": "v2.1"}) == Counter({"2.0.0": 20})
    assert versions(controller, 20, method="DELETE") == Counter({"2.0.0": 20})
    assert versions(controller, 20, path="/api/exact") == Counter({"2.0.0": 20})
    assert versions(controller, 200, path="/api/exact/more")["1.0.0"] > 100  # exact: not below
    assert versions(controller, 10, path="/none") == Counter({"500": 10})  # weights all 0
    assert versions(controller, 200, path="/nonesuch")["1.0.0"] > 100  # element-wise prefix


def test_no_matching_rule_is_404_and_a_mirror_sees_every_request(
    world: tuple[Kubectl, IngressController, Simulator],
) -> None:
    kubectl, controller, _ = world
    mirror = {
        "type": "RequestMirror",
        "requestMirror": {"backendRef": {"name": "mirror", "port": 80}},
    }
    rules = [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
            "filters": [mirror],
            "backendRefs": [ref("podinfo-primary")],
        }
    ]
    kubectl.run("apply", "-f", "-", input=http_route(rules))
    eventually(lambda: versions(controller, 3, path="/api") == Counter({"1.0.0": 3}))
    assert versions(controller, 5, path="/") == Counter({"404": 5})
    (address,) = [
        f"{a['ip']}:{p['port']}"
        for s in kubectl.json("get", "endpoints", "mirror").get("subsets") or []
        for a in s.get("addresses") or []
        for p in s.get("ports") or []
    ]
    before = served(address)
    assert versions(controller, 50, path="/api/items") == Counter({"1.0.0": 50})  # never 9.9.9
    assert eventually(lambda: served(address) - before >= 50)


def test_what_cannot_be_carried_is_reported(
    world: tuple[Kubectl, IngressController, Simulator],
) -> None:
    kubectl, controller, _ = world
    rules = [
        {
            "matches": [{"path": {"type": "RegularExpression", "value": "/v[0-9]+"}}],
            "backendRefs": [ref("podinfo-canary")],
        },
        {
            "filters": [
                {
                    "type": "RequestHeaderModifier",
                    "requestHeaderModifier": {"set": [{"name": "X-A", "value": "b"}]},
                }
            ],
            "backendRefs": [ref("podinfo-primary")],
        },
    ]
    kubectl.run("apply", "-f", "-", input=http_route(rules))
    eventually(lambda: versions(controller, 3) == Counter({"1.0.0": 3}))
    assert controller.problems == [
        "default/podinfo: rules[0].matches[0]: path RegularExpression '/v[0-9]+' left out",
        "default/podinfo: rules[1].filters[0]: RequestHeaderModifier left out",
    ]
