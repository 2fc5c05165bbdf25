"""Ferry down in the middle of a timed pause: the rollout resumes where it was, on time.

The simulated cluster outlives the runtime (as a real cluster outlives Ferry), and Redis keeps
its state in an AOF in the data directory, so a second ``ferry up`` on the same directory is the
same Ferry after a restart. Covered:
- the whole runtime crashes (timer worker and its scheduler killed, leaving RQ's scheduler lock
  held) during a pause and comes back after the pause should have ended: the first tick moves
  the rollout on at once from the same step, no step runs twice, the canary weight never goes
  back, and the rollout is promoted; the pause timer firing twice more changes nothing;
- the runtime stops during a pause and comes back before it ends: the pause timer still fires
  (the worker of the new runtime delivers it to the new broker) and the rollout is promoted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rq import Worker
from rq.job import Job
from rq.scheduler import RQScheduler

from local.runtime import Options, Runtime
from local.sim.cluster import Simulator
from shared import appends, events, facts, timers
from shared.events import Type
from shared.kube import Kube
from shared.settings import Settings
from shared.state import RolloutState, Stage
from tests.flow.conftest import (
    FAST,
    REF,
    Demo,
    Recorder,
    distinct,
    eventually,
    fast_options,
    publish,
)

STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {"duration": "3s"}}, {"setWeight": 60}]
NOTES = ["step 1/3: canary weight 20%", "step 2/3: paused for 3s", "step 3/3: canary weight 60%"]
RESUME_TIMEOUT = 20.0
"""Generous, yet well below the ~61 s a dead scheduler's lock lasts: waiting for the lock to
expire instead of resuming at once fails the test."""


@pytest.fixture
def cluster() -> Iterator[Simulator]:
    with Simulator(settings=FAST) as sim:
        yield sim


def options_for(sim: Simulator, tmp_path: Path) -> Options:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    return fast_options(kubeconfig=str(kubeconfig), data_dir=tmp_path / "data")


def demo_on(runtime: Runtime, sim: Simulator) -> Demo:
    return Demo(runtime, Kube(sim.api_client()))


def scheduler_lock(runtime: Runtime) -> bytes | None:
    assert runtime.store is not None
    key = RQScheduler.get_locking_key(Settings("", "").timer_queue)
    value = runtime.store.redis.get(key)
    assert value is None or isinstance(value, bytes)
    return value


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def crash_timer_worker(runtime: Runtime) -> None:
    """SIGKILL the runtime's RQ worker and its scheduler process, as a power cut would: the
    scheduler lock is not released."""
    assert runtime.store is not None
    workers = Worker.all(connection=runtime.store.redis)
    assert len(workers) == 1, workers
    pid = workers[0].pid
    assert pid is not None
    assert pid in children(os.getpid()), "the worker is not the runtime's own subprocess"
    for victim in [*children(pid), pid]:
        os.kill(victim, signal.SIGKILL)


def weight(ingress: dict[str, Any]) -> int:
    return int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"])


def pause_job(runtime: Runtime, paused: RolloutState) -> Any:
    """The RQ job of the timer ending the pause of step 1 that ``paused`` is in."""
    assert runtime.store is not None
    job_id = timers.timer_id(facts.of_attempt(paused, Type.PAUSE_EXPIRED, step=1))
    return Job.fetch(job_id, connection=runtime.store.redis)


def test_a_crash_during_a_pause_resumes_at_once_after_it_ended(
    cluster: Simulator, tmp_path: Path
) -> None:
    options = options_for(cluster, tmp_path)
    with contextlib.ExitStack() as cleanup:
        with Runtime(options) as first:
            podinfo = demo_on(first, cluster)
            podinfo.create(steps=STEPS)
            podinfo.wait(Stage.HEALTHY)
            canary = Recorder(podinfo.kube, "networking.k8s.io/v1", "ingresses", "podinfo-canary")
            cleanup.enter_context(canary)
            revision = podinfo.set_image("podinfo:2")
            paused = podinfo.wait(Stage.PAUSED, step=1, canary_revision=revision)
            assert pause_job(first, paused).get_status() == "scheduled"
            lock = eventually(lambda: scheduler_lock(first), what="the timer scheduler's lock")
            crash_timer_worker(first)
        while time.time() <= paused.pause_until + 0.2:  # the pause ends while Ferry is down
            time.sleep(0.1)

        with Runtime(options) as second:
            assert second.store is not None and second.broker is not None
            podinfo = demo_on(second, cluster)
            assert scheduler_lock(second) == lock, "the dead scheduler's lock should still hold"
            podinfo.wait(Stage.HEALTHY, RESUME_TIMEOUT, stable_revision=revision)
            assert second.broker.wait_idle(timeout=15.0)

            history = podinfo.history()
            notes = [entry["note"] for entry in history]
            assert [n for n in notes if n in NOTES] == NOTES, "a step ran twice, or not at all"
            resumed = history[notes.index(NOTES[1]) + 1]
            assert (resumed["event"], resumed["from"], resumed["to"], resumed["step"]) == (
                "dev.ferry.pause.expired",
                "paused",
                "stepping",
                2,
            )
            assert distinct([weight(v) for v in canary.versions()]) == [0, 20, 60, 0]

            # The tick resumed it: the pause timer could not fire (the dead scheduler's lock).
            job = pause_job(second, paused)
            assert job.get_status() == "scheduled"
            # The pause timer firing now, twice, changes nothing.
            before = (second.store.load(REF), history)
            for _ in range(2):  # as timers.fire sends it, with the worker's token
                publish(second, events.from_json(job.args[0]))
            assert second.broker.wait_idle(timeout=15.0)
            assert (second.store.load(REF), podinfo.history()) == before


def test_a_restart_during_a_pause_keeps_its_end(cluster: Simulator, tmp_path: Path) -> None:
    options = options_for(cluster, tmp_path)
    long_pause = [STEPS[0], {"pause": {"duration": "5s"}}, STEPS[2]]  # a restart takes ~1 s
    with Runtime(options) as first:
        podinfo = demo_on(first, cluster)
        podinfo.create(steps=long_pause)
        podinfo.wait(Stage.HEALTHY)
        revision = podinfo.set_image("podinfo:2")
        paused = podinfo.wait(Stage.PAUSED, step=1, canary_revision=revision)
    with Runtime(options) as second:
        podinfo = demo_on(second, cluster)
        assert time.time() < paused.pause_until, "the restart took longer than the pause"
        # The first tick finds the pause not over; only its timer can end it now.
        podinfo.wait(Stage.HEALTHY, RESUME_TIMEOUT, stable_revision=revision)
        history = podinfo.history()
        notes = [entry["note"] for entry in history]
        assert notes.count("step 2/3: paused for 5s") == 1
        resumed = history[notes.index("step 2/3: paused for 5s") + 1]
        assert (resumed["event"], resumed["step"]) == ("dev.ferry.pause.expired", 2)


def test_a_gate_waited_at_survives_a_restart_and_opens_after_it(
    cluster: Simulator, tmp_path: Path
) -> None:
    """Ferry down while a rollout waits at a confirm gate: it still waits after the restart
    (the canary unscaled), and a confirm given then opens it."""
    options = options_for(cluster, tmp_path)
    with Runtime(options) as first:
        podinfo = demo_on(first, cluster)
        podinfo.create(steps=STEPS, webhooks=[{"name": "go", "type": "confirm-rollout"}])
        podinfo.wait(Stage.HEALTHY)
        revision = podinfo.set_image("podinfo:2")
        podinfo.wait(Stage.GATED, canary_revision=revision)
    with Runtime(options) as second:
        podinfo = demo_on(second, cluster)
        second.tick()
        assert podinfo.wait(Stage.GATED).gate == "confirm-rollout"
        alice = Kube(cluster.api_client(token=cluster.add_user("alice", ["system:masters"])))
        appends.append(alice, "default", "podinfo", appends.new_command("confirm", "alice"))
        podinfo.wait(Stage.HEALTHY, RESUME_TIMEOUT, stable_revision=revision)
