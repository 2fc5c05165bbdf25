"""How the dashboard holds up at 1,000 rollouts, and how soon a live page sees a transition.

Side by side in one run: the same signed-in person asks for the first page (50 rows) of the
list ``--requests`` times with 10 Rollouts in the cluster, then with 1,000 (half of them in
namespaces of their own). Reported: median and p90 of the request time at each size, their
ratio, and how many times the dashboard listed Rollouts from the API server during the
requests (the list is served from a watched copy: it should be 0). Then, on a rollout paused
between steps, a live page (server-sent events) is open while it is promoted step by step:
reported is the delay from each transition's commit (its history entry's time) to the page
receiving it. Writes JSON; prints a summary. ``make bench``.
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


def live_delays(runtime: Runtime, kube: Kube, http: requests.Session, base: str) -> list[float]:
    """Seconds from each commit to the live page receiving it, over promotions of a canary
    paused between its steps."""
    steps: list[dict[str, Any]] = []
    for weight in (10, 20, 30, 40, 50, 60, 70, 80):
        steps += [{"setWeight": weight}, {"pause": {}}]
    kube.create(demo.deployment("podinfo:1"))
    kube.create(demo.ingress())
    kube.create(demo.rollout(steps))
    path = f"/api/rollouts/{demo.NAMESPACE}/{demo.NAME}"
    wait_for(http, f"{base}{path}", lambda page: page["phase"] == "Healthy")
    body = {
        "spec": {"template": {"spec": {"containers": [{"name": "podinfo", "image": "podinfo:2"}]}}}
    }
    kube.merge_patch("apps/v1", "deployments", demo.NAMESPACE, demo.NAME, body)
    wait_for(http, f"{base}{path}", lambda page: page["phase"] == "Paused")
    csrf = http.get(f"{base}/").text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    delays: list[float] = []
    with http.get(f"{base}{path}/live", stream=True, timeout=120) as stream:
        pages = (
            json.loads(line[6:])
            for line in stream.iter_lines(decode_unicode=True)
            if line.startswith("data: ")
        )
        seen = next(pages)["step"]  # the page as it is now
        for _ in range(len(steps) // 2 - 1):
            http.post(
                f"{base}{path}/commands",
                json={"action": "promote"},
                headers={"X-CSRF-Token": csrf},
                timeout=30,
            ).raise_for_status()
            for page in pages:
                arrived = time.time()
                if page["step"] != seen and page["phase"] == "Paused":
                    newest = max((h["time"] for h in page["history"]), default=arrived)
                    delays.append(arrived - newest)
                    seen = page["step"]
                    break
            print(f"  live page at step {seen}", flush=True)
    return delays


def wait_for(http: requests.Session, url: str, ready: Any) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        answer = http.get(url, timeout=30)
        if answer.ok and ready(answer.json()):
            return
        time.sleep(0.2)
    raise SystemExit(f"{url} never got ready")


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
        print("live page", flush=True)
        delays = live_delays(runtime, kube, http, base)
    result = {
        "benchmark": "dashboard_list",
        "requests": args.requests,
        "page_size": 50,
        "machine": platform.platform(),
        "rollouts_10": {**summary(small), "api_lists": small_lists},
        f"rollouts_{args.large}": {**summary(large), "api_lists": large_lists},
        "live_delay": {**summary(delays), "transitions": len(delays)},
    }
    result["ratio_median"] = round(
        result[f"rollouts_{args.large}"]["median_ms"] / result["rollouts_10"]["median_ms"], 2
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
