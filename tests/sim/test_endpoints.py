"""The Endpoints controller, on the simulator's clock.

Covered: a Service's Endpoints following Pod readiness (ready and not-ready addresses, named
target ports) and going away with the Service.
"""

from __future__ import annotations

from local.sim import errors
from local.sim.clock import ManualClock
from local.sim.cluster import Simulator
from local.sim.objects import Obj
from tests.sim.workloads import NS, eventually, exists, get, rt

# ---------------------------------------------------------------------------------- Endpoints


def test_endpoints_follow_pod_readiness(frozen: tuple[Simulator, ManualClock]) -> None:
    sim, clock = frozen
    service = {
        "metadata": {"name": "web", "labels": {"tier": "front"}},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "web"}],
        },
    }
    sim.store.create(rt(sim, "", "services"), NS, service)
    pod = {
        "metadata": {"name": "web-1", "labels": {"app": "web"}},
        "spec": {
            "containers": [
                {"name": "c", "image": "app", "ports": [{"name": "web", "containerPort": 8080}]}
            ]
        },
    }
    created = sim.store.create(rt(sim, "", "pods"), NS, pod)

    def subsets() -> list[Obj]:
        try:
            return list(get(sim, "", "endpoints", "web").get("subsets") or [])
        except errors.ApiError:
            return []

    (subset,) = eventually(subsets)
    assert "addresses" not in subset
    (address,) = subset["notReadyAddresses"]
    assert address["targetRef"] == {
        "kind": "Pod",
        "namespace": NS,
        "name": "web-1",
        "uid": created["metadata"]["uid"],
    }
    assert address["ip"].startswith("10.244.")
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert get(sim, "", "endpoints", "web")["metadata"]["labels"] == {"tier": "front"}

    clock.advance(1.0)
    (subset,) = eventually(lambda: (s := subsets()) and "addresses" in s[0] and s)
    assert "notReadyAddresses" not in subset
    assert subset["addresses"][0]["ip"] == address["ip"]

    sim.store.delete(rt(sim, "", "pods"), NS, "web-1")
    eventually(lambda: exists(sim, "", "endpoints", "web") and not subsets())
    sim.store.delete(rt(sim, "", "services"), NS, "web")
    eventually(lambda: not exists(sim, "", "endpoints", "web"))
