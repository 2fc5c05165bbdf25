"""The simulated kubelet: the Pod timeline and its conventions, on the simulator's clock.

Covered: a Pod passing through Pending and Running-not-ready before Ready (with its own ready
delay); the crash and run-to-completion timelines and the exit-code conventions; readiness
following the simulator's clock, not the wall clock.
"""

from __future__ import annotations

import time

from local.sim.clock import ManualClock
from local.sim.cluster import Simulator
from local.sim.controllers import Settings, kubelet
from local.sim.objects import Obj
from tests.sim.workloads import NS, condition, eventually, get, rt

# ---------------------------------------------------------------------------------- kubelet


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
