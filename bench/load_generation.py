"""Ferry's built-in load generation: the rate the canary's Pods really receive, and how soon the
load stops after an abort.

For each asked rate (``--rates``), a fresh ``ferry up`` with its data plane runs a canary whose
Rollout asks for ``spec.loadTest: {rps: R, concurrency: 16}`` (to the canary's Service, the
default); once the canary pauses at weight 20 and the load runs, the Pods' own request counters
(the demo app's ``http_requests_total``) are read ``--window`` seconds apart: the rate served,
side by side with the rate asked (their ratio). Then a person aborts (a command in the status,
as ``kubectl ferry abort`` writes it) and the counters are read every 20 ms until they stop
moving: the time from the abort's commit (its history entry) to the last request the Pods
counted is the stop latency (a slice looks at the state four times a second). The generator's
own totals (sent, errors, missed: due while all 16 requests waited) are kept beside. Medians over
``--rounds``. Writes JSON; ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from local import demo
from local.demoapp import counted
from local.runtime import Options, Runtime
from local.sim.controllers import Settings as SimSettings
from shared import appends
from shared.events import RolloutRef
from shared.kube import Kube
from shared.state import Stage


def served(kube: Kube, service: str) -> int:
    return counted.served(kube, demo.NAMESPACE, service)


def until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not happen within {timeout:g}s")


def one(rate: int, window: float) -> dict[str, Any]:
    options = Options(tick=3600.0, sim_settings=SimSettings(pod_ready_delay=0.3), data_plane=True)
    with Runtime(options) as runtime:
        assert runtime.store is not None and runtime.sim is not None
        kube = Kube(runtime.sim.api_client())
        person = Kube(
            runtime.sim.api_client(token=runtime.sim.add_user("alice", ["system:masters"]))
        )
        ref = RolloutRef(demo.NAMESPACE, demo.NAME)
        store = runtime.store
        kube.create(demo.deployment("ghcr.io/stefanprodan/podinfo:6.0.0", replicas=1))
        kube.create(demo.ingress())
        steps = [{"setWeight": 20}, {"pause": {}}]
        load = {"rps": rate, "concurrency": 16}
        kube.create(demo.rollout(steps, trafficRouting=demo.routing("nginx"), loadTest=load))
        until(lambda: store.load(ref).stage == Stage.HEALTHY, 60, "the first revision")
        new = demo.deployment("ghcr.io/stefanprodan/podinfo:6.1.0")["spec"]["template"]["spec"]
        kube.merge_patch(
            "apps/v1",
            "deployments",
            demo.NAMESPACE,
            demo.NAME,
            {"spec": {"template": {"spec": {"containers": new["containers"]}}}},
        )
        until(lambda: store.load(ref).stage == Stage.PAUSED, 60, "the pause at weight 20")
        until(lambda: served(kube, "podinfo-canary") > rate, 30, "the load")
        time.sleep(1.0)  # past the first slice's start
        first, began = served(kube, "podinfo-canary"), time.monotonic()
        time.sleep(window)
        last, ended = served(kube, "podinfo-canary"), time.monotonic()
        achieved = (last - first) / (ended - began)
        appends.append(person, demo.NAMESPACE, demo.NAME, appends.new_command("abort", "alice"))
        until(lambda: store.load(ref).stage == Stage.ABORTED, 30, "the abort")
        aborted_at = next(
            e["time"] for e in reversed(store.history(ref)) if e.get("to") == Stage.ABORTED.value
        )
        count, moved_at = served(kube, "podinfo-canary"), time.time()
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 3.0:
            now = served(kube, "podinfo-canary")
            if now != count:
                count, moved_at, quiet_since = now, time.time(), time.monotonic()
            time.sleep(0.02)
        progress = until(
            lambda: (found := store.load_progress(ref)).get("stopped") and found, 30, "its totals"
        )
        return {
            "asked_rps": rate,
            "served_rps": round(achieved, 1),
            "served_over_asked": round(achieved / rate, 3),
            "stop_after_abort_s": round(max(0.0, moved_at - aborted_at), 3),
            "generator": {k: int(progress.get(k) or 0) for k in ("sent", "errors", "missed")},
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,200,400", help="asked rates, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=float, default=8.0, help="seconds the rate is read over")
    parser.add_argument("--out", type=Path, default=Path("bench/results/load_generation.json"))
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",")]
    rounds: dict[int, list[dict[str, Any]]] = {rate: [] for rate in rates}
    for i in range(args.rounds):
        for rate in rates:
            print(f"load generation {i + 1}/{args.rounds}: {rate} rps...", flush=True)
            rounds[rate].append(one(rate, args.window))
            print(f"  {rounds[rate][-1]}", flush=True)
    medians = {
        rate: {
            key: statistics.median(r[key] for r in found)
            for key in ("served_rps", "served_over_asked", "stop_after_abort_s")
        }
        for rate, found in rounds.items()
    }
    report = {
        "benchmark": "load_generation",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {"concurrency": 16, "window_s": args.window, "target": "podinfo-canary"},
        "rounds": {str(rate): found for rate, found in rounds.items()},
        "medians": {str(rate): found for rate, found in medians.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for rate, found in medians.items():
        print(
            f"asked {rate} rps: the canary's Pods served {found['served_rps']} rps "
            f"(x{found['served_over_asked']}); the load stopped {found['stop_after_abort_s']} s "
            "after the abort"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
