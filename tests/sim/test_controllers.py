"""The simulated controllers, driven through the store in-process.

Covers: Deployments (ReplicaSet naming, labels, owner references and revision annotations; Pods
becoming ready; status counts and the Available/Progressing conditions; RollingUpdate bounds from
maxSurge/maxUnavailable; Recreate ordering; the crash convention and ProgressDeadlineExceeded;
scaling up, down and to zero; pause; revision history), the kubelet's Pod timeline and
conventions, Jobs (success, failure with backoffLimit, exit-code conventions), Endpoints
following readiness, garbage collection (background, foreground, orphan) and Namespace
deletion.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.sim import errors
from local.sim.clock import ManualClock
from local.sim.cluster import Simulator
from local.sim.controllers import Settings, deployments, kubelet
from local.sim.resources import ResourceType
from local.sim.store import DELETED, Event, Obj, Watcher

FAST = Settings(pod_ready_delay=0.05, job_run_seconds=0.05, tick=0.01)
NS = "default"


@pytest.fixture
def cluster() -> Iterator[Simulator]:
    with Simulator(settings=FAST) as simulator:
        yield simulator


@pytest.fixture
def frozen() -> Iterator[tuple[Simulator, ManualClock]]:
    """A simulator whose clock only moves when the test says so."""
    clock = ManualClock()
    with Simulator(
        settings=Settings(pod_ready_delay=1, job_run_seconds=1, tick=0.01), clock=clock
    ) as simulator:
        yield simulator, clock


# ------------------------------------------------------------------------------------ helpers


def eventually(predicate: Callable[[], Any], timeout: float = 5) -> Any:
    """Poll until ``predicate`` returns something truthy; fail with its last value otherwise."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")


def rt(sim: Simulator, group: str, plural: str) -> ResourceType:
    return sim.registry.versions_of(group, plural)[0]


def objects(sim: Simulator, group: str, plural: str, namespace: str = NS) -> list[Obj]:
    return sim.store.list(rt(sim, group, plural), namespace)[0]


def get(sim: Simulator, group: str, plural: str, name: str, namespace: str | None = NS) -> Obj:
    return sim.store.get(rt(sim, group, plural), namespace, name)


def exists(sim: Simulator, group: str, plural: str, name: str, namespace: str | None = NS) -> bool:
    try:
        get(sim, group, plural, name, namespace)
    except errors.ApiError as exc:
        assert exc.code == 404
        return False
    return True


def deployment_body(name: str, image: str, replicas: int = 2, **spec: Any) -> Obj:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            **spec,
        },
    }


def create_deployment(sim: Simulator, name: str, image: str, replicas: int = 2, **spec: Any) -> Obj:
    body = deployment_body(name, image, replicas, **spec)
    return sim.store.create(rt(sim, "apps", "deployments"), NS, body)


def patch_deployment(sim: Simulator, name: str, change: Callable[[Obj], None]) -> Obj:
    def apply(obj: Obj) -> Obj:
        change(obj)
        return obj

    return sim.store.patch(rt(sim, "apps", "deployments"), NS, name, apply)


def set_image(image: str) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = image

    return change


def condition(obj: Obj, kind: str) -> Obj:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return dict(cond)
    return {}


def rolled_out(sim: Simulator, name: str) -> Obj | None:
    """The Deployment once its rollout is complete (as ``kubectl rollout status`` judges)."""
    d = get(sim, "apps", "deployments", name)
    status = d.get("status") or {}
    want = d["spec"]["replicas"]
    done = (
        status.get("observedGeneration") == d["metadata"]["generation"]
        and status.get("updatedReplicas", 0) == want
        and status.get("replicas", 0) == want
        and status.get("availableReplicas", 0) == want
        and condition(d, "Progressing").get("reason") == "NewReplicaSetAvailable"
    )
    return d if done else None


def pods_of(sim: Simulator, app: str) -> list[Obj]:
    return [
        p for p in objects(sim, "", "pods") if p["metadata"].get("labels", {}).get("app") == app
    ]


def watch_pods(sim: Simulator) -> Watcher:
    watcher, _ = sim.store.watch(
        rt(sim, "", "pods"), NS, resource_version=str(sim.store.resource_version)
    )
    return watcher


def drain(watcher: Watcher) -> list[Event]:
    events = []
    while (event := watcher.next(timeout=0)) is not None:
        events.append(event)
    watcher.close()
    return events


def replay(start: list[Obj], events: list[Event]) -> Iterator[dict[str, Obj]]:
    """The set of live Pods (uid -> Pod) after each event, starting from ``start``."""
    live = {p["metadata"]["uid"]: p for p in start}
    for event in events:
        if event.type == DELETED:
            live.pop(event.obj["metadata"]["uid"], None)
        else:
            live[event.obj["metadata"]["uid"]] = event.obj
        yield live


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


def test_pods_pass_through_pending_and_not_ready_before_ready(
    frozen: tuple[Simulator, ManualClock],
) -> None:
    sim, clock = frozen
    pod = {
        "metadata": {"name": "slow", "annotations": {kubelet.READY_AFTER: "4"}},
        "spec": {"containers": [{"name": "app", "image": "app:v1"}]},
    }
    sim.store.create(rt(sim, "", "pods"), NS, pod)

    def status() -> Obj:
        return dict(get(sim, "", "pods", "slow").get("status") or {})

    pending = eventually(lambda: status().get("hostIP") and status())
    assert pending["phase"] == "Pending"
    assert pending["containerStatuses"][0]["state"]["waiting"]["reason"] == "ContainerCreating"

    clock.advance(2.5)  # past half the delay: started, not ready
    running = eventually(lambda: status()["phase"] == "Running" and status())
    assert running["containerStatuses"][0]["started"] is True
    assert running["containerStatuses"][0]["ready"] is False
    assert condition({"status": running}, "Ready")["reason"] == "ContainersNotReady"

    clock.advance(1.5)  # past the pod's own ready delay (the settings say 1 s)
    eventually(lambda: kubelet.is_ready(get(sim, "", "pods", "slow")))


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
    crashing = [
        p for p in pods_of(cluster, "web") if p["spec"]["containers"][0]["image"] == "app:v2-crash"
    ]
    assert crashing
    for pod in crashing:
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


# ---------------------------------------------------------------------------------- kubelet


def test_kubelet_timeline_for_crashing_and_completing_pods() -> None:
    settings = Settings(pod_ready_delay=2, job_run_seconds=10)

    def pod(image: str, policy: str = "Always", **annotations: str) -> Obj:
        return {
            "metadata": {"name": "p", "namespace": NS, "uid": "u", "annotations": annotations},
            "spec": {"restartPolicy": policy, "containers": [{"name": "c", "image": image}]},
        }

    crash = pod("registry:5000/app:v2-crash")
    plan = kubelet._plan(crash, 100.0, settings)
    status, _ = kubelet.pod_status(crash, plan, 101.5, "10.244.0.9")
    assert status["containerStatuses"][0]["restartCount"] == 1
    status, upcoming = kubelet.pod_status(crash, plan, 105.5, "10.244.0.9")
    assert status["phase"] == "Running"
    assert status["containerStatuses"][0]["restartCount"] == 3
    assert upcoming == 107.0

    job = pod("app:v1", "Never", **{kubelet.EXIT_CODE: "3", kubelet.RUN_SECONDS: "4"})
    plan = kubelet._plan(job, 100.0, settings)
    status, upcoming = kubelet.pod_status(job, plan, 102.0, "10.244.0.9")
    assert status["phase"] == "Running" and upcoming == 105.0
    status, upcoming = kubelet.pod_status(job, plan, 105.0, "10.244.0.9")
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert (status["phase"], terminated["exitCode"], terminated["reason"]) == ("Failed", 3, "Error")
    assert upcoming is None

    assert kubelet.exit_code(pod("app:fail-fast", "Never"), {"image": "app:fail-fast"}) == 1
    assert kubelet.exit_code(pod("failing/app:v1", "Never"), {"image": "failing/app:v1"}) == 0
    env = {"image": "app:v1", "env": [{"name": "SIM_EXIT_CODE", "value": "7"}]}
    assert kubelet.exit_code(pod("app:v1", "Never"), env) == 7


def test_ready_delay_follows_the_clock_not_the_wall(frozen: tuple[Simulator, ManualClock]) -> None:
    sim, clock = frozen
    body = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "app"}]}}
    sim.store.create(rt(sim, "", "pods"), NS, body)
    eventually(lambda: get(sim, "", "pods", "p").get("status", {}).get("startTime"))
    time.sleep(0.2)
    assert not kubelet.is_ready(get(sim, "", "pods", "p"))

    clock.advance(1.0)

    eventually(lambda: kubelet.is_ready(get(sim, "", "pods", "p")))


# --------------------------------------------------------------------------------------- Jobs


def job_body(name: str, image: str = "app:v1", backoff: int = 6, **annotations: str) -> Obj:
    return {
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff,
            "template": {
                "metadata": {"annotations": annotations} if annotations else {},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "job", "image": image}],
                },
            },
        },
    }


def finished_job(sim: Simulator, name: str) -> Obj | None:
    job = get(sim, "batch", "jobs", name)
    done = any(condition(job, kind).get("status") == "True" for kind in ("Complete", "Failed"))
    return job if done else None


def test_job_runs_its_pod_to_completion(cluster: Simulator) -> None:
    created = cluster.store.create(rt(cluster, "batch", "jobs"), NS, job_body("once"))

    job = eventually(lambda: finished_job(cluster, "once"))
    assert condition(job, "Complete")["reason"] == "CompletionsReached"
    assert condition(job, "SuccessCriteriaMet")["status"] == "True"
    status = job["status"]
    assert status["succeeded"] == 1 and "failed" not in status and "active" not in status
    assert status["startTime"] and status["completionTime"] and status["ready"] == 0
    (pod,) = [
        p for p in objects(cluster, "", "pods") if p["metadata"]["labels"].get("job-name") == "once"
    ]
    assert pod["metadata"]["name"].startswith("once-")
    assert pod["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    assert pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")


def test_failing_job_retries_until_its_backoff_limit(cluster: Simulator) -> None:
    cluster.store.create(rt(cluster, "batch", "jobs"), NS, job_body("flaky", "app:fail", 2))

    job = eventually(lambda: finished_job(cluster, "flaky"))
    failed = condition(job, "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "BackoffLimitExceeded")
    assert condition(job, "FailureTarget")["status"] == "True"
    assert not condition(job, "Complete")
    assert job["status"]["failed"] == 3 and "succeeded" not in job["status"]
    assert "completionTime" not in job["status"]
    pods = [
        p
        for p in objects(cluster, "", "pods")
        if p["metadata"]["labels"].get("job-name") == "flaky"
    ]
    assert len(pods) == 3
    for pod in pods:
        assert pod["status"]["phase"] == "Failed"
        terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")


def test_job_exit_code_annotation_decides_the_outcome(cluster: Simulator) -> None:
    body = job_body("coded", backoff=0, **{"sim.ferry.dev/exit-code": "3"})
    cluster.store.create(rt(cluster, "batch", "jobs"), NS, body)

    job = eventually(lambda: finished_job(cluster, "coded"))
    assert condition(job, "Failed")["status"] == "True"
    (pod,) = [
        p
        for p in objects(cluster, "", "pods")
        if p["metadata"]["labels"].get("job-name") == "coded"
    ]
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_suspended_job_runs_no_pods(cluster: Simulator) -> None:
    body = job_body("later")
    body["spec"]["suspend"] = True
    cluster.store.create(rt(cluster, "batch", "jobs"), NS, body)

    job = eventually(
        lambda: (
            condition(get(cluster, "batch", "jobs", "later"), "Suspended")
            and get(cluster, "batch", "jobs", "later")
        )
    )
    assert condition(job, "Suspended")["reason"] == "JobSuspended"
    assert not [
        p
        for p in objects(cluster, "", "pods")
        if p["metadata"]["labels"].get("job-name") == "later"
    ]

    def resume(obj: Obj) -> Obj:
        obj["spec"]["suspend"] = False
        return obj

    cluster.store.patch(rt(cluster, "batch", "jobs"), NS, "later", resume)
    job = eventually(lambda: finished_job(cluster, "later"))
    assert condition(job, "Complete")["status"] == "True"


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


# ------------------------------------------------------------------------- garbage collection


def configmap(sim: Simulator, name: str, *owners: Obj) -> Obj:
    refs = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": o["metadata"]["name"],
            "uid": o["metadata"]["uid"],
            "blockOwnerDeletion": True,
        }
        for o in owners
    ]
    body: Obj = {"metadata": {"name": name, "ownerReferences": refs}, "data": {}}
    if not refs:
        del body["metadata"]["ownerReferences"]
    return sim.store.create(rt(sim, "", "configmaps"), NS, body)


def test_background_deletion_collects_dependents_of_dead_owners(cluster: Simulator) -> None:
    owner = configmap(cluster, "owner")
    other = configmap(cluster, "other")
    configmap(cluster, "only-child", owner)
    configmap(cluster, "shared-child", owner, other)

    cluster.store.delete(rt(cluster, "", "configmaps"), NS, "owner")

    eventually(lambda: not exists(cluster, "", "configmaps", "only-child"))
    shared = eventually(
        lambda: (
            len(
                (c := get(cluster, "", "configmaps", "shared-child"))["metadata"]["ownerReferences"]
            )
            == 1
            and c
        )
    )
    assert shared["metadata"]["ownerReferences"][0]["uid"] == other["metadata"]["uid"]


def test_foreground_deletion_removes_dependents_before_the_owner(cluster: Simulator) -> None:
    create_deployment(cluster, "web", "app:v1", replicas=2)
    eventually(lambda: rolled_out(cluster, "web"))
    watcher, _ = cluster.store.watch(None, resource_version=str(cluster.store.resource_version))

    marked = cluster.store.delete(
        rt(cluster, "apps", "deployments"), NS, "web", propagation="Foreground"
    )

    assert marked["metadata"]["deletionTimestamp"]
    eventually(lambda: not exists(cluster, "apps", "deployments", "web"))
    assert not pods_of(cluster, "web") and not objects(cluster, "apps", "replicasets")
    deletions = [(e.key, e.rv) for e in drain(watcher) if e.type == DELETED]
    (gone,) = [rv for key, rv in deletions if key == ("apps", "deployments")]
    assert all(rv < gone for key, rv in deletions if key != ("apps", "deployments"))
    assert any(key == ("", "pods") for key, _ in deletions)


def test_orphan_deletion_keeps_dependents_without_the_reference(cluster: Simulator) -> None:
    create_deployment(cluster, "web", "app:v1", replicas=2)
    eventually(lambda: rolled_out(cluster, "web"))
    (rs,) = objects(cluster, "apps", "replicasets")

    cluster.store.delete(rt(cluster, "apps", "deployments"), NS, "web", propagation="Orphan")

    eventually(lambda: not exists(cluster, "apps", "deployments", "web"))
    kept = get(cluster, "apps", "replicasets", rs["metadata"]["name"])
    assert "ownerReferences" not in kept["metadata"]
    time.sleep(0.2)
    assert len(pods_of(cluster, "web")) == 2


# --------------------------------------------------------------------------------- Namespaces


def test_deleting_a_namespace_deletes_its_contents(cluster: Simulator) -> None:
    namespaces = rt(cluster, "", "namespaces")
    cluster.store.create(namespaces, None, {"metadata": {"name": "team"}})
    body = deployment_body("web", "app:v1", 2)
    cluster.store.create(rt(cluster, "apps", "deployments"), "team", body)
    cluster.store.create(rt(cluster, "", "configmaps"), "team", {"metadata": {"name": "cfg"}})
    eventually(lambda: len(objects(cluster, "", "pods", "team")) == 2)
    configmap(cluster, "bystander")

    cluster.store.delete(namespaces, None, "team")

    def empty() -> bool:
        return not any(
            objects(cluster, group, plural, "team")
            for group, plural in (
                ("apps", "deployments"),
                ("apps", "replicasets"),
                ("", "pods"),
                ("", "configmaps"),
            )
        )

    eventually(empty)
    eventually(lambda: not exists(cluster, "", "namespaces", "team", None))
    assert exists(cluster, "", "configmaps", "bystander")


def test_terminating_namespace_is_emptied_and_released(cluster: Simulator) -> None:
    namespaces = rt(cluster, "", "namespaces")
    body = {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    cluster.store.create(namespaces, None, body)
    cluster.store.create(rt(cluster, "", "configmaps"), "held", {"metadata": {"name": "cfg"}})

    cluster.store.delete(namespaces, None, "held")

    def released() -> Obj | None:
        ns = get(cluster, "", "namespaces", "held", None)
        return ns if ns["spec"]["finalizers"] == [] else None

    ns = eventually(released)
    assert ns["status"]["phase"] == "Terminating"
    assert not objects(cluster, "", "configmaps", "held")

    def unhold(obj: Obj) -> Obj:
        obj["metadata"]["finalizers"] = []
        return obj

    cluster.store.patch(namespaces, None, "held", unhold)
    assert not exists(cluster, "", "namespaces", "held", None)
