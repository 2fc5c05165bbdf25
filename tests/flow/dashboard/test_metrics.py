"""The metrics of every rollout, scraped from the dashboard by a real Prometheus.

Covered: Prometheus, with the token of a ServiceAccount bound to ``ferry-metrics-reader``
(``knative/dashboard.yaml``), scrapes the dashboard's ``/metrics`` while a canary runs and
answers queries in Argo Rollouts' names (``rollout_info`` with the phase, ``rollout_phase``)
and Ferry's (canary weight, step, transitions by function and event, their latency histogram,
deliveries by status); without a token ``/metrics`` is 401, with a token not allowed it is 403.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from local import demo
from local.runtime import Runtime
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, eventually
from tests.flow.dashboard.conftest import People
from tests.prometheus import running

STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {}}]


def scraper(up: Runtime, admin: Kube) -> str:
    """A token of ServiceAccount default/prometheus, bound to ferry-metrics-reader."""
    assert up.sim is not None
    admin.request(
        "POST",
        f"/api/v1/namespaces/{demo.NAMESPACE}/serviceaccounts",
        body={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "prometheus"}},
    )
    admin.request(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        body={
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "prometheus-ferry-metrics"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "ferry-metrics-reader",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "prometheus", "namespace": demo.NAMESPACE}
            ],
        },
    )
    return up.sim.service_account_token(demo.NAMESPACE, "prometheus")


def test_prometheus_scrapes_every_rollout_from_the_dashboard(
    up: Runtime, admin: Kube, people: People, podinfo: Demo, tmp_path: Path
) -> None:
    token = scraper(up, admin)
    url = f"{up.dashboard_url}/metrics"
    assert requests.get(url, timeout=5).status_code == 401
    denied = requests.get(url, headers={"Authorization": f"Bearer {people.tokens['eve']}"})
    assert denied.status_code == 403

    podinfo.create(STEPS)
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    (tmp_path / "token").write_text(token)
    scrape = (
        "  - job_name: ferry\n"
        "    authorization:\n"
        f"      credentials_file: {tmp_path / 'token'}\n"
        "    static_configs:\n"
        f"      - targets: ['{up.dashboard_url.removeprefix('http://')}']\n"
    )
    with running(tmp_path, scrape, 'up{job="ferry"} == 1') as prometheus:

        def value(query: str) -> float | None:
            found = prometheus.query(query)
            return float(found[0]["value"][1]) if found else None

        where = f'namespace="{demo.NAMESPACE}",name="{demo.NAME}"'
        eventually(lambda: value(f'rollout_info{{{where},phase="Paused"}}') == 1.0)
        assert value(f'rollout_phase{{{where},phase="Paused"}}') == 1.0
        assert value(f'rollout_phase{{{where},phase="Healthy"}}') == 0.0
        assert value(f"ferry_rollout_canary_weight{{{where}}}") == 20.0
        assert value(f"ferry_rollout_step{{{where}}}") == 1.0
        started = 'ferry_transitions_total{function="start",event="dev.ferry.revision.detected"}'
        assert (value(started) or 0) >= 1
        assert (value('sum(ferry_transition_duration_seconds_count{function="step"})') or 0) >= 1
        assert value('ferry_transition_duration_seconds_bucket{function="step",le="+Inf"}')
        assert (value('sum(ferry_event_deliveries_total{code=~"2.."})') or 0) >= 5
