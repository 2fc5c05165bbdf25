"""A routing object that is missing is a condition on the Rollout, not an error to retry.

Covered: a Rollout naming a stable Ingress that does not exist is Degraded with a readable
message (in its status and an Event) and the Broker sees no 5xx for it; the Ingress appearing
brings the rollout to Healthy on the Ingress's own watch event (the periodic tick is off); the
Ingress deleted from under a Healthy rollout is reported the same way when it is next needed,
and recovers the same way.
"""

from __future__ import annotations

from local import demo
from local.runtime import Runtime
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, eventually, settle

INGRESS_API = "networking.k8s.io/v1"


def _status(kube: Kube) -> dict[str, object]:
    obj = kube.rollout(demo.NAMESPACE, demo.NAME) or {}
    return dict(obj.get("status") or {})


def _no_server_errors(runtime: Runtime) -> None:
    assert runtime.broker is not None
    failed = [(d.event_type, d.status) for d in runtime.broker.deliveries() if d.status >= 500]
    assert failed == []


def test_a_missing_stable_ingress_is_a_condition_and_its_creation_recovers(
    podinfo: Demo, kube: Kube, runtime: Runtime
) -> None:
    kube.create(demo.deployment("podinfo:1"))
    kube.create(demo.rollout())

    def degraded() -> dict[str, object] | None:
        status = _status(kube)
        return status if status.get("phase") == "Degraded" else None

    status = eventually(degraded, what="the Rollout Degraded")
    assert "stable Ingress default/podinfo" in str(status["message"])
    assert "does not exist" in str(status["message"])
    eventually(  # recorded once the status says it
        lambda: any(
            e["reason"] == "StableIngressNotFound"
            for e in kube.list_of("v1", "events", demo.NAMESPACE)
        ),
        what="the StableIngressNotFound Event",
    )
    settle(runtime)
    _no_server_errors(runtime)

    kube.create(demo.ingress())
    podinfo.wait(Stage.HEALTHY, timeout=10)
    eventually(lambda: _status(kube).get("phase") == "Healthy", what="the Rollout Healthy")
    assert kube.get(INGRESS_API, "ingresses", demo.NAMESPACE, f"{demo.NAME}-canary")
    _no_server_errors(runtime)


def test_a_stable_ingress_deleted_later_is_reported_and_recovers(
    podinfo: Demo, kube: Kube, runtime: Runtime
) -> None:
    podinfo.create(steps=[{"setWeight": 50}])
    podinfo.wait(Stage.HEALTHY)
    kube.delete(INGRESS_API, "ingresses", demo.NAMESPACE, demo.NAME)
    kube.merge_patch(  # a spec change: Ferry converges the routing objects again
        "ferry.dev/v1alpha1",
        "rollouts",
        demo.NAMESPACE,
        demo.NAME,
        {"spec": {"progressDeadlineSeconds": 45}},
    )
    eventually(lambda: _status(kube).get("phase") == "Degraded", what="the Rollout Degraded")
    assert podinfo.state().blocked
    kube.create(demo.ingress())
    eventually(lambda: not podinfo.state().blocked, what="the block lifted")
    eventually(lambda: _status(kube).get("phase") == "Healthy", what="the Rollout Healthy")
    settle(runtime)
    _no_server_errors(runtime)
