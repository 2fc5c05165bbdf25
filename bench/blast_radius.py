"""Blast radius of a bad release: how many user requests fail before traffic leaves the canary.

The same bad release (``podinfo:6.1.0-errors50``: half its answers are 500s) under the same
steady load (users sending ``--rate`` requests per second through the local data plane's real
nginx) is rolled out twice, each time to a canary at weight 20 watched by the same Prometheus
query (Flagger's built-in NGINX success rate, ``>= 95``), on the same machine, side by side:

- **ferry**: Ferry's event-driven analysis — a measurement every second from the moment the
  canary takes traffic, the first failed one aborts (``interval: 1s``, ``failureLimit: 0``).
- **flagger-cadence**: Flagger's cadence, written as the same analysis — its control loop runs
  every ``interval`` (10 s, as in Flagger's examples) and checks the metrics once per loop
  (``initialDelay: 10s``, ``interval: 10s``), and rolls back after ``threshold`` failed checks
  (5, Flagger's examples: ``failureLimit: 4``, as a run fails when failures exceed the limit).

For each: the failed user requests from the first failing one until the Ingress Ferry writes
says weight 0 (plus those in flight, answered within a second after), and the time from the
first failing request to that weight 0. Reported with the ratio ferry / flagger-cadence (goal:
at most 1/10). Writes JSON; ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from local import demo
from local.runtime import Options, Runtime
from local.sim.controllers import Settings as SimSettings
from shared import models, routers
from shared.events import RolloutRef
from shared.kube import Kube
from shared.state import Stage

MODES: dict[str, dict[str, Any]] = {
    "ferry": {"interval": "1s", "failureLimit": 0},
    "flagger-cadence": {"initialDelay": "10s", "interval": "10s", "failureLimit": 4},
}
BAD = "ghcr.io/stefanprodan/podinfo:6.1.0-errors50"


def template(prometheus: str, mode: str) -> dict[str, Any]:
    found = demo.success_rate_template(prometheus)
    metric = found["spec"]["metrics"][0]
    metric.update(MODES[mode])
    metric["inconclusiveLimit"] = 100  # before two scrapes of the canary: no data, either way
    return found


def weight(kube: Kube, ref: RolloutRef) -> int | None:
    obj = kube.rollout(ref.namespace, ref.name)
    if obj is None:
        return None
    spec = models.parse(obj)
    return routers.get(spec.router, kube).get_weight(spec)


def one(mode: str, rate: int) -> dict[str, Any]:
    options = Options(tick=5.0, sim_settings=SimSettings(pod_ready_delay=0.3), data_plane=True)
    with Runtime(options) as runtime:
        assert runtime.store is not None and runtime.sim is not None
        kube = Kube(runtime.sim.api_client())
        ref = RolloutRef(demo.NAMESPACE, demo.NAME)
        kube.create(demo.deployment("ghcr.io/stefanprodan/podinfo:6.0.0"))
        kube.create(demo.ingress())
        kube.create(template(runtime.prometheus_url, mode))
        steps = [{"setWeight": 20}, {"pause": {"duration": "10m"}}]
        obj = demo.rollout(steps, trafficRouting=demo.routing("nginx"))
        obj["spec"]["strategy"]["canary"]["analysis"] = {
            "templates": [{"templateName": "success-rate"}]
        }
        kube.create(obj)
        deadline = time.monotonic() + 60
        while runtime.store.load(ref).stage != Stage.HEALTHY or not demo.answers(
            runtime.ingress_url
        ):
            if time.monotonic() > deadline:
                raise TimeoutError("the first revision did not become Healthy")
            time.sleep(0.05)
        with demo.Users(runtime.ingress_url, "6.0.0", rate=rate) as users:
            time.sleep(1.0)
            containers = demo.deployment(BAD)["spec"]["template"]["spec"]["containers"]
            kube.merge_patch(
                "apps/v1",
                "deployments",
                demo.NAMESPACE,
                demo.NAME,
                {"spec": {"template": {"spec": {"containers": containers}}}},
            )
            raised = False
            deadline = time.monotonic() + 180
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{mode}: the bad release was not aborted")
                current = weight(kube, ref)
                raised = raised or bool(current)
                if raised and current == 0 and runtime.store.load(ref).stage == Stage.ABORTED:
                    back = time.monotonic()
                    break
                time.sleep(0.02)
            time.sleep(1.0)  # the requests in flight at that moment are answered
        failures = sorted(users.failures)
        if not failures:
            raise RuntimeError(f"{mode}: no request failed: the bad release never took traffic")
        first = failures[0]
        return {
            "failed_requests": sum(1 for t in failures if t <= back + 1.0),
            "failed_after_weight_0": sum(1 for t in failures if t > back),
            "first_failure_to_weight_0_s": round(back - first, 2),
            "requests_sent": users.sent,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=100, help="users' requests per second")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each, interleaved")
    parser.add_argument("--out", type=Path, default=Path("bench/results/blast_radius.json"))
    args = parser.parse_args(argv)
    rounds: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for i in range(args.rounds):
        for mode in MODES:
            print(
                f"blast radius {i + 1}/{args.rounds}: {mode} (a bad release at weight 20, "
                f"{args.rate} requests/s)...",
                flush=True,
            )
            rounds[mode].append(one(mode, args.rate))
            print(f"  {rounds[mode][-1]}", flush=True)
    medians = {
        mode: {
            key: statistics.median(r[key] for r in found)
            for key in ("failed_requests", "first_failure_to_weight_0_s")
        }
        for mode, found in rounds.items()
    }
    ratio = medians["ferry"]["failed_requests"] / medians["flagger-cadence"]["failed_requests"]
    report = {
        "benchmark": "blast_radius",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load": {"rate_rps": args.rate, "canary_weight": 20, "release": BAD},
        "settings": {mode: MODES[mode] for mode in MODES},
        "query": demo.SUCCESS_RATE,
        "rounds": rounds,
        "medians": medians,
        "ratio_failed_requests_ferry_over_flagger_cadence": round(ratio, 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    ferry, flagger = medians["ferry"], medians["flagger-cadence"]
    print(
        f"median failed user requests: ferry {ferry['failed_requests']}, flagger-cadence "
        f"{flagger['failed_requests']} (ratio {ratio:.3f}); first failure to weight 0: "
        f"{ferry['first_failure_to_weight_0_s']} s vs {flagger['first_failure_to_weight_0_s']} s"
        f" -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
