"""Header routes through ingress-nginx, and a step a router cannot do refused by name.

Covered: ``setHeaderRoute`` sets ``canary-by-header`` with ``canary-by-header-value`` (exact)
on the canary Ingress, its removal step and the promotion take them away, and annotations the
user gives in ``additionalIngressAnnotations`` are never touched; a regex becomes
``canary-by-header-pattern``; a ``setCookieRoute`` is ``canary-by-cookie`` until its removal
step; a ``setMirrorRoute`` on nginx, or a ``setHeaderRoute`` without a
router, is an InvalidSpec naming the step and the router (never silently ignored, unlike
argoproj/argo-rollouts#2830), and nothing is touched.
"""

from __future__ import annotations

from typing import Any

from local import demo
from local.runtime import Runtime
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, eventually

Obj = dict[str, Any]
PREFIX = "nginx.ingress.kubernetes.io/"


def annotations(kube: Kube) -> dict[str, str]:
    found = kube.get("networking.k8s.io/v1", "ingresses", demo.NAMESPACE, f"{demo.NAME}-canary")
    assert found is not None
    return {
        k.removeprefix(PREFIX): v
        for k, v in (found["metadata"].get("annotations") or {}).items()
        if k.startswith(PREFIX)
    }


def header(value: Obj) -> Obj:
    return {"name": "testers", "match": [{"headerName": "X-Canary", "headerValue": value}]}


def test_a_header_route_is_set_removed_and_gone_at_the_end(routed: Runtime, admin: Kube) -> None:
    podinfo = Demo(routed, admin)
    steps: list[Obj] = [
        {"setWeight": 10},
        {"setHeaderRoute": header({"exact": "yes"})},
        {"pause": {}},
        {"setHeaderRoute": {"name": "testers"}},
        {"setHeaderRoute": header({"regex": "^(yes|y)$"})},
        {"pause": {}},
    ]
    routing = {
        "nginx": {
            "stableIngress": demo.NAME,
            "additionalIngressAnnotations": {"canary-by-cookie": "beta"},
        }
    }
    admin.create(demo.deployment("podinfo:1"))
    admin.create(demo.ingress())
    admin.create(demo.rollout(steps, trafficRouting=routing))
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=2)
    now = annotations(admin)
    assert now["canary-weight"] == "10"
    assert (now["canary-by-header"], now["canary-by-header-value"]) == ("X-Canary", "yes")
    assert "canary-by-header-pattern" not in now and now["canary-by-cookie"] == "beta"
    podinfo.command("promote")
    podinfo.wait(Stage.PAUSED, step=5)
    now = annotations(admin)
    assert now["canary-by-header-pattern"] == "^(yes|y)$" and "canary-by-header-value" not in now
    podinfo.command("promote")
    podinfo.wait(Stage.HEALTHY, stable_revision=podinfo.state().canary_revision)
    now = annotations(admin)
    assert not {"canary-by-header", "canary-by-header-value", "canary-by-header-pattern"} & set(now)
    assert (now["canary-weight"], now["canary-by-cookie"]) == ("0", "beta")


def _invalid(kube: Kube) -> str:
    status = (kube.rollout(demo.NAMESPACE, demo.NAME) or {}).get("status") or {}
    found = [c for c in status.get("conditions") or [] if c.get("reason") == "InvalidSpec"]
    return str(found[0]["message"]) if found else ""


def test_a_mirror_route_on_nginx_is_refused_by_name(routed: Runtime, admin: Kube) -> None:
    steps: list[Obj] = [
        {"setWeight": 10},
        {"setMirrorRoute": {"name": "shadow", "match": [{"path": {"prefix": "/"}}]}},
    ]
    admin.create(demo.deployment("podinfo:1"))
    admin.create(demo.ingress())
    admin.create(demo.rollout(steps))
    text = eventually(lambda: _invalid(admin), what="the InvalidSpec condition")
    assert "spec.strategy.canary.steps[1].setMirrorRoute: the nginx router cannot mirror" in text
    assert "gatewayAPI, istio" in text
    primary = admin.deployment(demo.NAMESPACE, f"{demo.NAME}-primary")
    assert primary is None  # nothing was touched


def test_a_header_route_without_a_router_is_refused(routed: Runtime, admin: Kube) -> None:
    steps: list[Obj] = [{"setWeight": 10}, {"setHeaderRoute": header({"exact": "yes"})}]
    obj = demo.rollout(steps)
    del obj["spec"]["trafficRouting"]
    admin.create(demo.deployment("podinfo:1"))
    admin.create(obj)
    text = eventually(lambda: _invalid(admin), what="the InvalidSpec condition")
    assert "steps[1].setHeaderRoute: a Rollout without spec.trafficRouting cannot route" in text


def test_a_cookie_route_is_canary_by_cookie_until_removed(routed: Runtime, admin: Kube) -> None:
    podinfo = Demo(routed, admin)
    steps: list[Obj] = [
        {"setWeight": 10},
        {"setCookieRoute": {"name": "beta", "cookieName": "canary"}},
        {"pause": {}},
        {"setCookieRoute": {"name": "beta"}},
        {"pause": {}},
    ]
    admin.create(demo.deployment("podinfo:1"))
    admin.create(demo.ingress())
    admin.create(demo.rollout(steps))
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=2)
    assert annotations(admin)["canary-by-cookie"] == "canary"
    podinfo.command("promote")
    podinfo.wait(Stage.PAUSED, step=4)
    assert "canary-by-cookie" not in annotations(admin)
