"""Built-in load generation, end to end on the local data plane: a Rollout's ``spec.loadTest``
(or a step's ``load``) makes the load function (``ferry serve load``, in a process of its own)
send real HTTP requests to the canary's live Pods while the canary runs its steps, and stop by
itself on promotion, abort, a person's pause, a step's ``rps: 0``, its ``duration`` and
deletion, with its progress in ``status.loadTest``, ``kubectl ferry get`` and the history.
The load is counted at the Pods themselves (the demo app's own request counter); hints
delivered twice, concurrently, late, and after a generator died change nothing."""

from __future__ import annotations

import concurrent.futures
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local import demo
from local.demoapp import counted
from local.runtime import Runtime
from shared import events, models
from shared.events import Type
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import REF, Demo, eventually, fast_options, post_to, run_cli

IMAGE = "ferry/demo-app:1.0.0"
CANARY = "ferry/demo-app:2.0.0"
STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {}}]


@pytest.fixture
def live() -> Iterator[tuple[Runtime, Kube, Demo]]:
    with Runtime(fast_options(data_plane=True)) as runtime:
        assert runtime.sim is not None
        kube = Kube(runtime.sim.api_client())
        yield runtime, kube, Demo(runtime, kube)


def start(world: tuple[Runtime, Kube, Demo], steps: list[dict[str, Any]], **spec: Any) -> Demo:
    _, _, podinfo = world
    podinfo.create(steps, image=IMAGE, **spec)
    reach(podinfo, Stage.HEALTHY)
    podinfo.set_image(CANARY)
    return podinfo


def reach(podinfo: Demo, stage: Stage, timeout: float = 30, **fields: Any) -> None:
    """Wait for a committed state (not for an idle Broker: the load's slices keep it busy)."""

    def reached() -> bool:
        state = podinfo.state()
        return state.stage == stage and all(getattr(state, k) == v for k, v in fields.items())

    eventually(reached, timeout, f"stage {stage} {fields}")


def load_status(kube: Kube) -> dict[str, Any]:
    obj = kube.rollout(demo.NAMESPACE, demo.NAME) or {}
    found: dict[str, Any] = (obj.get("status") or {}).get("loadTest") or {}
    return found


def served(kube: Kube, service: str) -> int:
    """Requests the Pods behind ``service`` answered, by their own counters."""
    return counted.served(kube, demo.NAMESPACE, service)


def notes(podinfo: Demo) -> list[str]:
    return [str(e.get("note")) for e in podinfo.history() if str(e.get("note")).startswith("load")]


def sent(podinfo: Demo) -> int:
    return int(podinfo.store.load_progress(REF).get("sent") or 0)


def stays(podinfo: Demo, seconds: float = 1.5) -> bool:
    """Nothing more is sent over ``seconds``."""
    before = sent(podinfo)
    time.sleep(seconds)
    return sent(podinfo) == before


def test_load_reaches_the_canary_during_its_steps_and_stops_at_promotion(
    live: tuple[Runtime, Kube, Demo],
) -> None:
    _, kube, _ = live
    podinfo = start(live, STEPS, loadTest={"rps": 40, "concurrency": 4})
    reach(podinfo, Stage.PAUSED)
    running = eventually(
        lambda: (s := load_status(kube)).get("phase") == "Running" and s.get("sent", 0) >= 40 and s,
        timeout=30,
        what="the load running",
    )
    assert running["source"] == "spec.loadTest" and running["errors"] == 0, running
    assert 30 <= float(running["achievedRPS"]) <= 44, running
    assert eventually(lambda: served(kube, "podinfo-canary") >= 40, timeout=10)
    assert served(kube, "podinfo-primary") == 0  # the load goes to the canary only
    shown = run_cli(live[0], "kubectl", "ferry", "get", "rollout", demo.NAME)
    assert re.search(
        r"^Load: +Running 40 rps \(spec\.loadTest\): [\d,]+ sent, [\d.]+/s achieved, 0 errors$",
        shown,
        re.M,
    ), shown
    assert "load started (spec.loadTest)" in shown  # the history

    post_to(live[0], "advance", podinfo.command("promote"))
    reach(podinfo, Stage.HEALTHY)
    stopped = eventually(
        lambda: (s := load_status(kube)).get("phase") == "Stopped" and s, timeout=15
    )
    assert "promoted" in stopped["message"] or "healthy" in stopped["message"], stopped
    assert stays(podinfo)
    said = notes(podinfo)
    assert said[0].startswith("load started (spec.loadTest): 40 rps (4 at once) to service")
    assert said[-1].startswith("load stopped:") and "errors" in said[-1], said


def test_abort_a_persons_pause_and_a_resume(live: tuple[Runtime, Kube, Demo]) -> None:
    runtime, kube, _ = live
    podinfo = start(live, STEPS, loadTest={"rps": 30})
    reach(podinfo, Stage.PAUSED)
    eventually(lambda: sent(podinfo) > 30, timeout=30, what="load sent")

    post_to(runtime, "hold", podinfo.command("pause", user="bob"))
    eventually(lambda: load_status(kube).get("phase") == "Stopped", timeout=15)
    assert "paused by bob" in load_status(kube)["message"]
    assert stays(podinfo)

    post_to(runtime, "hold", podinfo.command("resume", user="bob"))
    before = sent(podinfo)
    eventually(lambda: sent(podinfo) > before + 20, timeout=15, what="load resumed")
    assert any(n.startswith("load resumed") for n in notes(podinfo))

    post_to(runtime, "abort", podinfo.command("abort"))
    reach(podinfo, Stage.ABORTED)
    eventually(lambda: load_status(kube).get("phase") == "Stopped", timeout=15)
    assert "aborted" in load_status(kube)["message"]
    assert stays(podinfo)
    # a hint delivered late (out of order, replayed) decides again from the state: nothing
    late = events.new(Type.LOAD_REQUESTED, REF, event_id="late-1")
    assert post_to(runtime, "load", late) == 202 and post_to(runtime, "load", late) == 202
    assert stays(podinfo, 0.5)
    stops = [n for n in notes(podinfo) if n.startswith("load stopped")]
    assert len(stops) == 2, stops  # the person's pause and the abort: each recorded once
    # a status write that was lost (here: overwritten, as the load function could) is made
    # again by the next look
    as_ferry = kube.acting_as("system:serviceaccount:ferry-system:ferry-load")
    running = {"status": {"loadTest": {"phase": "Running", "message": "stale"}}}
    as_ferry.merge_patch(
        models.API_VERSION, models.PLURAL, demo.NAMESPACE, demo.NAME, running, sub="status"
    )
    assert load_status(kube)["phase"] == "Running"
    assert post_to(runtime, "load", events.new(Type.LOAD_REQUESTED, REF, event_id="late-2")) == 202
    assert load_status(kube)["phase"] == "Stopped" and "aborted" in load_status(kube)["message"]
    assert len([n for n in notes(podinfo) if n.startswith("load stopped")]) == 2


def test_steps_change_the_load_and_rps_0_stops_it(live: tuple[Runtime, Kube, Demo]) -> None:
    """A step's load through the ingress to the apex (its weights split it), with headers."""
    runtime, kube, _ = live
    url = f"{runtime.ingress_url}/?token=hidden"
    headers = {"Host": demo.HOST, "X-Load": "ferry"}
    steps = [
        {"setWeight": 20},
        {"load": {"rps": 25, "url": url, "headers": headers}},
        {"pause": {"duration": "3s"}},
        {"load": {"rps": 0}},
        {"pause": {}},
    ]
    podinfo = start(live, steps)
    reach(podinfo, Stage.PAUSED, step=4)
    said = notes(podinfo)
    where = "spec.strategy.canary.steps[1].load"
    assert any(n.startswith(f"load started ({where}): 25 rps") for n in said), said
    assert "X-Load" in said[0] and "ferry" not in said[0]  # a header's name, never its value
    assert f"to {runtime.ingress_url}/?… with Host, X-Load" in said[0], said  # no query shown
    eventually(lambda: load_status(kube).get("phase") == "Stopped", timeout=15)
    assert "rps 0" in load_status(kube)["message"]
    assert 50 <= sent(podinfo) <= 110, sent(podinfo)  # 25 rps for about 3 s
    assert int(podinfo.store.load_progress(REF)["errors"]) == 0  # nginx routed every one
    assert served(kube, "podinfo-canary") > 0 and served(kube, "podinfo-primary") > 0
    assert stays(podinfo)
    everything = str(podinfo.history()) + str(load_status(kube))
    assert "hidden" not in everything


def test_duration_and_deletion_end_it(live: tuple[Runtime, Kube, Demo]) -> None:
    _, kube, _ = live
    podinfo = start(live, STEPS, loadTest={"rps": 20, "duration": "2s"})
    reach(podinfo, Stage.PAUSED)
    eventually(lambda: load_status(kube).get("phase") == "Stopped", timeout=20)
    assert "duration of 2s passed" in load_status(kube)["message"]
    assert 30 <= sent(podinfo) <= 50, sent(podinfo)

    kube.delete(models.API_VERSION, models.PLURAL, demo.NAMESPACE, demo.NAME)
    eventually(lambda: not podinfo.store.load(REF).exists, timeout=20)
    podinfo.runtime.tick()
    eventually(lambda: not podinfo.store.load_progress(REF), timeout=15, what="progress forgotten")


def test_one_generator_at_a_time_whatever_the_deliveries(
    live: tuple[Runtime, Kube, Demo],
) -> None:
    """Hints delivered twice, concurrently and again later send the load once: a second
    delivery finds the lease held and does nothing."""
    runtime, kube, _ = live
    podinfo = start(live, STEPS, loadTest={"rps": 20})
    reach(podinfo, Stage.PAUSED)
    eventually(lambda: load_status(kube).get("phase") == "Running", timeout=20)
    first = sent(podinfo)
    began = time.monotonic()
    hints = [events.new(Type.LOAD_REQUESTED, REF, event_id=f"dup-{i}") for i in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda e: post_to(runtime, "load", e), hints))
    assert all(200 <= code < 300 for code in codes), codes
    assert time.monotonic() - began < 3  # each found a slice running and left it alone
    time.sleep(3)
    rate = (sent(podinfo) - first) / (time.monotonic() - began)
    assert rate <= 26, rate  # 20 rps, not 20 per delivery


def test_the_tick_restarts_a_load_whose_generator_died(live: tuple[Runtime, Kube, Demo]) -> None:
    """A generator that died holding the lease (a crash mid-slice) left nothing running: once
    its lease expired, the tick starts the load again."""
    runtime, _, podinfo = live
    podinfo.create(STEPS, image=IMAGE, loadTest={"rps": 20})
    podinfo.wait(Stage.HEALTHY, timeout=30)
    assert podinfo.store.lease_load(REF, "a-crashed-slice", 3.0)
    podinfo.set_image(CANARY)
    reach(podinfo, Stage.PAUSED)
    time.sleep(3.5)  # the hint found the lease held; it has expired since
    assert sent(podinfo) == 0 and not podinfo.store.load_leased(REF)
    runtime.tick()
    eventually(lambda: sent(podinfo) > 20, timeout=20, what="load restarted by the tick")
