"""The Deployment and ReplicaSet controllers, driven through the store in-process.

Covered: Deployments (ReplicaSet naming, labels, owner references and revision annotations;
Pods becoming ready; status counts and the Available/Progressing conditions; RollingUpdate
bounds from maxSurge/maxUnavailable; Recreate ordering; the crash convention and
ProgressDeadlineExceeded; scaling up, down and to zero; pause; revision history; rolling back);
ReplicaSets replacing deleted Pods and adopting orphans.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from local.sim.cluster import Simulator
from local.sim.controllers import deployments, kubelet
from local.sim.objects import Obj
from tests.sim.workloads import (
    NS,
    condition,
    create_deployment,
    deployment_body,
    drain,
    eventually,
    get,
    objects,
    patch_deployment,
    pods_of,
    replay,
    rolled_out,
    rt,
    set_image,
    watch_pods,
)

# ------------------------------------------------------------------------------- Deployments


def test_deployment_creates_a_replicaset_whose_pods_become_ready(cluster: Simulator) -> None:
    created = create_deployment(cluster, "web", "app:v1", replicas=3)

    d = eventually(lambda: rolled_out(cluster, "web"))
    (rs,) = objects(cluster, "apps", "replicasets")
    digest = rs["metadata"]["labels"]["pod-template-hash"]
    assert len(digest) == 10 and digest.isalnum() and digest.islower()
    assert rs["metadata"]["name"] == f"web-{digest}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": digest}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == digest
    assert rs["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
            "uid": created["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert rs["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "1",
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4",
    }
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert rs["status"]["readyReplicas"] == 3
    assert rs["status"]["observedGeneration"] == rs["metadata"]["generation"]

    pods = pods_of(cluster, "web")
    assert len(pods) == 3
    for pod in pods:
        assert pod["metadata"]["name"].startswith(f"web-{digest}-")
        assert pod["metadata"]["labels"]["pod-template-hash"] == digest
        assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert pod["status"]["phase"] == "Running"
        assert kubelet.is_ready(pod)
        assert pod["spec"]["nodeName"] == "sim-node"
        (container,) = pod["status"]["containerStatuses"]
        assert container["ready"] and container["started"] and "running" in container["state"]
    assert len({pod["status"]["podIP"] for pod in pods}) == 3

    status = d["status"]
    assert status["readyReplicas"] == 3 and "unavailableReplicas" not in status
    available = condition(d, "Available")
    assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")
    progressing = condition(d, "Progressing")
    assert progressing["status"] == "True"
    assert progressing["message"] == f'ReplicaSet "web-{digest}" has successfully progressed.'
    assert progressing["lastUpdateTime"] and progressing["lastTransitionTime"]


def test_maxsurge_and_maxunavailable_round_like_kubernetes() -> None:
    def bounds(replicas: int, surge: Any, unavailable: Any) -> tuple[int, int]:
        strategy = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
        }
        body = deployment_body("x", "app:v1", replicas, strategy=strategy)
        return deployments.surge_and_unavailable(body)

    assert bounds(10, "25%", "25%") == (3, 2)
    assert bounds(3, "25%", "25%") == (1, 0)
    assert bounds(4, 0, 0) == (0, 1)
    assert bounds(4, 2, "50%") == (2, 2)
    recreate = deployment_body("x", "app:v1", 4, strategy={"type": "Recreate"})
    assert deployments.surge_and_unavailable(recreate) == (0, 0)


def test_rolling_update_stays_within_surge_and_unavailability(cluster: Simulator) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    create_deployment(cluster, "web", "app:v1", replicas=4, strategy=strategy)
    eventually(lambda: rolled_out(cluster, "web"))
    watcher = watch_pods(cluster)
    start = pods_of(cluster, "web")

    patch_deployment(cluster, "web", set_image("app:v2"))

    d = eventually(lambda: rolled_out(cluster, "web"))
    time.sleep(0.1)
    events = drain(watcher)
    sizes, ready = [], []
    for live in replay(start, events):
        sizes.append(len(live))
        ready.append(sum(1 for pod in live.values() if kubelet.is_ready(pod)))
    assert max(sizes) <= 5  # replicas + maxSurge
    assert min(ready) >= 3  # replicas - maxUnavailable
    assert any(
        len({p["spec"]["containers"][0]["image"] for p in live.values()}) == 2
        for live in replay(start, events)
    ), "old and new Pods never served together"
    images = {p["spec"]["containers"][0]["image"] for p in pods_of(cluster, "web")}
    assert images == {"app:v2"}
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    by_revision = {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs
        for rs in objects(cluster, "apps", "replicasets")
    }
    assert by_revision["1"]["spec"]["replicas"] == 0
    assert by_revision["2"]["spec"]["replicas"] == 4
    assert d["status"]["updatedReplicas"] == 4


def test_rolling_update_without_unavailability_keeps_every_replica_ready(
    cluster: Simulator,
) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 0}}
    create_deployment(cluster, "web", "app:v1", replicas=3, strategy=strategy)
    eventually(lambda: rolled_out(cluster, "web"))
    watcher = watch_pods(cluster)
    start = pods_of(cluster, "web")

    patch_deployment(cluster, "web", set_image("app:v2"))

    eventually(lambda: rolled_out(cluster, "web"))
    time.sleep(0.1)
    history = list(replay(start, drain(watcher)))
    assert max(len(live) for live in history) <= 5  # 3 + ceil(1.5)
    assert min(sum(kubelet.is_ready(p) for p in live.values()) for live in history) >= 3


def test_recreate_removes_old_pods_before_creating_new_ones(cluster: Simulator) -> None:
    create_deployment(cluster, "web", "app:v1", replicas=3, strategy={"type": "Recreate"})
    eventually(lambda: rolled_out(cluster, "web"))
    watcher = watch_pods(cluster)
    start = pods_of(cluster, "web")

    patch_deployment(cluster, "web", set_image("app:v2"))

    eventually(lambda: rolled_out(cluster, "web"))
    time.sleep(0.1)
    for live in replay(start, drain(watcher)):
        images = {p["spec"]["containers"][0]["image"] for p in live.values()}
        assert images != {"app:v1", "app:v2"}, "old and new Pods ran side by side"
    assert {p["spec"]["containers"][0]["image"] for p in pods_of(cluster, "web")} == {"app:v2"}


def test_crashing_release_never_becomes_available_and_exceeds_its_deadline(
    cluster: Simulator,
) -> None:
    create_deployment(cluster, "web", "app:v1", replicas=2, progressDeadlineSeconds=1)
    eventually(lambda: rolled_out(cluster, "web"))

    patch_deployment(cluster, "web", set_image("app:v2-crash"))

    def timed_out() -> Obj | None:
        d = get(cluster, "apps", "deployments", "web")
        return (
            d if condition(d, "Progressing").get("reason") == "ProgressDeadlineExceeded" else None
        )

    d = eventually(timed_out, timeout=6)
    progressing = condition(d, "Progressing")
    assert progressing["status"] == "False"
    assert "has timed out progressing" in progressing["message"]
    assert condition(d, "Available")["status"] == "True"  # the old Pods still serve

    def restarts(pod: Obj) -> int:
        return int(pod["status"]["containerStatuses"][0].get("restartCount") or 0)

    def crashing() -> list[Obj]:
        found = pods_of(cluster, "web")
        return [p for p in found if p["spec"]["containers"][0]["image"] == "app:v2-crash"]

    # the kubelet reports on its own thread: on a loaded machine a Pod's first status can come
    # after the Deployment's deadline; once it has, it is this
    def reported() -> list[Obj]:
        found = crashing()
        started = all((p.get("status") or {}).get("containerStatuses") for p in found)
        return found if found and started and all(restarts(p) >= 1 for p in found) else []

    for pod in eventually(reported, timeout=6):
        assert pod["status"]["phase"] == "Running" and not kubelet.is_ready(pod)
        state = pod["status"]["containerStatuses"][0]
        assert state["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        assert state["restartCount"] >= 1
    assert d["status"]["updatedReplicas"] >= 1
    assert d["status"]["availableReplicas"] == 2


def test_crash_by_environment_leaves_a_new_deployment_unavailable(cluster: Simulator) -> None:
    body = deployment_body("web", "app:v1", replicas=1)
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "SIM_CRASH", "value": "true"}
    ]
    cluster.store.create(rt(cluster, "apps", "deployments"), NS, body)

    def restarted() -> list[Obj]:
        return [p for p in pods_of(cluster, "web") if kubelet.restart_count(p) >= 2]

    eventually(restarted)
    d = get(cluster, "apps", "deployments", "web")
    available = condition(d, "Available")
    assert (available["status"], available["reason"]) == ("False", "MinimumReplicasUnavailable")
    assert d["status"]["unavailableReplicas"] == 1


def test_scaling_up_down_and_to_zero(cluster: Simulator) -> None:
    create_deployment(cluster, "web", "app:v1", replicas=2)
    eventually(lambda: rolled_out(cluster, "web"))

    def scale(n: int) -> Callable[[Obj], None]:
        def change(obj: Obj) -> None:
            obj["spec"]["replicas"] = n

        return change

    for wanted in (5, 1, 0):
        patch_deployment(cluster, "web", scale(wanted))
        d = eventually(lambda: rolled_out(cluster, "web"))
        assert len(pods_of(cluster, "web")) == wanted
        (rs,) = objects(cluster, "apps", "replicasets")
        assert rs["spec"]["replicas"] == wanted
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == str(
            wanted
        )
    assert "replicas" not in d["status"]  # zero counts are omitted, as the API server does
    assert condition(d, "Available")["status"] == "True"


def test_paused_deployment_does_not_roll_out_until_resumed(cluster: Simulator) -> None:
    create_deployment(cluster, "web", "app:v1", replicas=2)
    eventually(lambda: rolled_out(cluster, "web"))

    def pause(paused: bool) -> Callable[[Obj], None]:
        def change(obj: Obj) -> None:
            obj["spec"]["paused"] = paused

        return change

    patch_deployment(cluster, "web", pause(True))
    patch_deployment(cluster, "web", set_image("app:v2"))
    eventually(
        lambda: (
            condition(get(cluster, "apps", "deployments", "web"), "Progressing").get("reason")
            == "DeploymentPaused"
        )
    )
    time.sleep(0.2)
    assert len(objects(cluster, "apps", "replicasets")) == 1

    patch_deployment(cluster, "web", pause(False))
    eventually(lambda: rolled_out(cluster, "web"))
    assert {p["spec"]["containers"][0]["image"] for p in pods_of(cluster, "web")} == {"app:v2"}


def test_old_replicasets_beyond_the_revision_history_limit_are_deleted(cluster: Simulator) -> None:
    create_deployment(cluster, "web", "app:v1", replicas=1, revisionHistoryLimit=1)
    eventually(lambda: rolled_out(cluster, "web"))
    for image in ("app:v2", "app:v3"):
        patch_deployment(cluster, "web", set_image(image))
        eventually(lambda: rolled_out(cluster, "web"))

    def revisions() -> list[str]:
        return sorted(
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
            for rs in objects(cluster, "apps", "replicasets")
        )

    assert eventually(lambda: revisions() == ["2", "3"])


def test_rolling_back_reuses_the_old_replicaset_with_a_new_revision(cluster: Simulator) -> None:
    create_deployment(cluster, "web", "app:v1", replicas=1)
    eventually(lambda: rolled_out(cluster, "web"))
    first = objects(cluster, "apps", "replicasets")[0]["metadata"]["name"]
    patch_deployment(cluster, "web", set_image("app:v2"))
    eventually(lambda: rolled_out(cluster, "web"))

    def roll_back(obj: Obj) -> None:  # as ``kubectl rollout undo`` writes the old template
        set_image("app:v1")(obj)
        obj["spec"]["template"]["metadata"]["creationTimestamp"] = None
        obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {}

    patch_deployment(cluster, "web", roll_back)

    d = eventually(lambda: rolled_out(cluster, "web"))
    assert len(objects(cluster, "apps", "replicasets")) == 2
    rs = get(cluster, "apps", "replicasets", first)
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert rs["spec"]["replicas"] == 1
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


# ------------------------------------------------------------------------------- ReplicaSets


def test_replicaset_replaces_deleted_pods_and_adopts_orphans(cluster: Simulator) -> None:
    rs_body = {
        "metadata": {"name": "solo"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "solo"}},
            "template": {
                "metadata": {"labels": {"app": "solo"}},
                "spec": {"containers": [{"name": "app", "image": "app:v1"}]},
            },
        },
    }
    rs = cluster.store.create(rt(cluster, "apps", "replicasets"), NS, rs_body)
    orphan = {
        "metadata": {"name": "stray", "labels": {"app": "solo"}},
        "spec": {"containers": [{"name": "app", "image": "app:v1"}]},
    }
    cluster.store.create(rt(cluster, "", "pods"), NS, orphan)

    eventually(
        lambda: (
            len(pods_of(cluster, "solo")) == 2
            and all(p["metadata"].get("ownerReferences") for p in pods_of(cluster, "solo"))
        )
    )
    stray = get(cluster, "", "pods", "stray")
    assert stray["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]

    victim = pods_of(cluster, "solo")[0]["metadata"]["name"]
    cluster.store.delete(rt(cluster, "", "pods"), NS, victim)
    eventually(
        lambda: (
            len(pods_of(cluster, "solo")) == 2
            and victim not in {p["metadata"]["name"] for p in pods_of(cluster, "solo")}
        )
    )
    status = eventually(
        lambda: (
            (s := get(cluster, "apps", "replicasets", "solo")["status"]).get("availableReplicas")
            == 2
            and s
        )
    )
    assert status["replicas"] == 2 and status["fullyLabeledReplicas"] == 2
