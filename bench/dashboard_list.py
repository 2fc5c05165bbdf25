"""How the dashboard's list of rollouts holds up at 1,000 rollouts, on the embedded runtime.

Side by side in one run: the same signed-in person asks for the first page (50 rows) of the
list ``--requests`` times with 10 Rollouts in the cluster, then with 1,000 (each in its own
namespace half the time, so the per-namespace access reviews are exercised too). Reported:
median and p90 of the request time at each size, their ratio, and how many times the dashboard
listed Rollouts from the API server during the requests (the list is served from a watched
copy: it should be 0). Writes JSON; prints a summary. ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import requests

from local import demo
from local.runtime import Options, Runtime
from local.sim.controllers import Settings as SimSettings
from shared.kube import Kube

ACCOUNT = "system:serviceaccount:ferry-system:ferry-dashboard"


def rollout(namespace: str, name: str) -> dict[str, Any]:
    obj = demo.rollout()
    obj["metadata"] = {"name": name, "namespace": namespace}
    obj["spec"]["targetRef"]["name"] = f"missing-{name}"  # nothing to roll: no work for Ferry
    return obj


def sign_in(runtime: Runtime) -> tuple[requests.Session, str]:
    assert runtime.sim is not None
    token = runtime.sim.add_user("viewer", groups=("system:masters",))
    http = requests.Session()
    answer = http.post(f"{runtime.dashboard_url}/login", data={"token": token}, timeout=30)
    answer.raise_for_status()
    return http, runtime.dashboard_url


def measure(http: requests.Session, base: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        answer = http.get(f"{base}/api/rollouts?size=50", timeout=60)
        times.append(time.perf_counter() - started)
        answer.raise_for_status()
    return times


def lists(runtime: Runtime) -> int:
    assert runtime.sim is not None
    return sum(
        1
        for r in runtime.sim.audit()
        if r.user == ACCOUNT and r.resource == "rollouts" and r.verb == "list"
    )


def fill(kube: Kube, start: int, end: int) -> None:
    for i in range(start, end):
        namespace = demo.NAMESPACE if i % 2 == 0 else f"team-{i}"
        if namespace != demo.NAMESPACE:
            kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
        kube.create(rollout(namespace, f"app-{i}"))
        if i % 100 == 99:
            print(f"  {i + 1} rollouts created", flush=True)


def wait_listed(http: requests.Session, base: str, total: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if http.get(f"{base}/api/rollouts?size=25", timeout=60).json()["total"] == total:
            return
        time.sleep(0.5)
    raise SystemExit(f"the dashboard never listed {total} rollouts")


def settle(runtime: Runtime) -> None:
    """Let Ferry finish with the new Rollouts first (the list is measured, not them)."""
    assert runtime.broker is not None
    if not runtime.broker.wait_idle(timeout=600):
        raise SystemExit("Ferry did not settle within 10 minutes")


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--large", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("bench/results/dashboard_list.json"))
    args = parser.parse_args()
    options = Options(tick=3600.0, sim_settings=SimSettings(pod_ready_delay=0.05))
    with Runtime(options) as runtime:
        assert runtime.sim is not None
        kube = Kube(runtime.sim.api_client())
        http, base = sign_in(runtime)
        print("10 rollouts", flush=True)
        fill(kube, 0, 10)
        wait_listed(http, base, 10)
        settle(runtime)
        before = lists(runtime)
        small = measure(http, base, args.requests)
        small_lists = lists(runtime) - before
        print(f"{args.large} rollouts", flush=True)
        fill(kube, 10, args.large)
        wait_listed(http, base, args.large)
        settle(runtime)
        before = lists(runtime)
        large = measure(http, base, args.requests)
        large_lists = lists(runtime) - before
    result = {
        "benchmark": "dashboard_list",
        "requests": args.requests,
        "page_size": 50,
        "machine": platform.platform(),
        "rollouts_10": {**summary(small), "api_lists": small_lists},
        f"rollouts_{args.large}": {**summary(large), "api_lists": large_lists},
    }
    result["ratio_median"] = round(
        result[f"rollouts_{args.large}"]["median_ms"] / result["rollouts_10"]["median_ms"], 2
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
