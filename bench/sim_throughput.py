"""Throughput of the Kubernetes API simulator, measured with the official client over HTTP.

Measures, in one run and side by side: GET and merge-PATCH requests per second (one client, and
several client threads at once), and watch fan-out (events delivered per second to many
concurrent watchers, with the delivery latency). Each figure is the median of several rounds.
Writes JSON; prints a short table. Run it with ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from local.sim.cluster import Simulator

NS = "default"


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _rounds(rounds: int, one: Callable[[], float]) -> dict[str, float]:
    samples = [one() for _ in range(rounds)]
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def bench_requests(sim: Simulator, requests: int, threads: int, rounds: int) -> dict[str, Any]:
    clients = [sim.api_client() for _ in range(threads)]
    apis = [client.CoreV1Api(c) for c in clients]
    apis[0].create_namespaced_config_map(NS, {"metadata": {"name": "bench"}, "data": {"n": "0"}})
    counter = iter(range(10**9))

    def get(api: client.CoreV1Api, n: int) -> None:
        for _ in range(n):
            api.read_namespaced_config_map("bench", NS)

    def patch(api: client.CoreV1Api, n: int) -> None:
        for _ in range(n):
            api.patch_namespaced_config_map("bench", NS, {"data": {"n": str(next(counter))}})

    def timed(action: Callable[[client.CoreV1Api, int], None], workers: int) -> float:
        per = requests // workers
        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda api: action(api, per), apis[:workers]))
        return _rate(per * workers, time.perf_counter() - start)

    result = {
        "get_per_s_1_client": _rounds(rounds, lambda: timed(get, 1)),
        f"get_per_s_{threads}_clients": _rounds(rounds, lambda: timed(get, threads)),
        "patch_per_s_1_client": _rounds(rounds, lambda: timed(patch, 1)),
        f"patch_per_s_{threads}_clients": _rounds(rounds, lambda: timed(patch, threads)),
    }
    for c in clients:
        c.close()
    return result


def bench_watch(sim: Simulator, watchers: int, writes: int, rounds: int) -> dict[str, Any]:
    writer_client = sim.api_client()
    writer = client.CoreV1Api(writer_client)
    writer.create_namespaced_config_map(NS, {"metadata": {"name": "fan"}, "data": {"n": "0"}})
    rates: list[float] = []
    latencies: list[float] = []
    for _ in range(rounds):
        rv = writer.read_namespaced_config_map("fan", NS).metadata.resource_version
        sent: dict[str, float] = {}
        received: list[list[float]] = [[] for _ in range(watchers)]
        ready = threading.Barrier(watchers + 1)
        clients = [sim.api_client() for _ in range(watchers)]

        def follow(
            i: int,
            rv: str = rv,
            sent: dict[str, float] = sent,
            received: list[list[float]] = received,
            ready: threading.Barrier = ready,
            clients: list[client.ApiClient] = clients,
        ) -> None:
            api = client.CoreV1Api(clients[i])
            stream = watch.Watch()
            ready.wait()
            for event in stream.stream(
                api.list_namespaced_config_map,
                NS,
                field_selector="metadata.name=fan",
                resource_version=rv,
                timeout_seconds=60,
            ):
                n = event["object"].data["n"]
                received[i].append(time.perf_counter() - sent.get(n, time.perf_counter()))
                if len(received[i]) == writes:
                    stream.stop()

        threads = [threading.Thread(target=follow, args=(i,)) for i in range(watchers)]
        for t in threads:
            t.start()
        ready.wait()
        time.sleep(0.2)  # let every watch request reach the server
        start = time.perf_counter()
        for n in range(writes):
            key = f"{_}-{n}"
            sent[key] = time.perf_counter()
            writer.patch_namespaced_config_map("fan", NS, {"data": {"n": key}})
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        rates.append(_rate(watchers * writes, elapsed))
        latencies.extend(x for r in received for x in r)
        for c in clients:
            c.close()
    writer_client.close()
    latencies.sort()
    return {
        "watchers": watchers,
        "writes_per_round": writes,
        "events_delivered_per_s": {"median": statistics.median(rates)},
        "delivery_latency_ms": {
            "median": 1000 * statistics.median(latencies),
            "p99": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="bench/results/sim_throughput.json")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--watchers", type=int, default=20)
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with Simulator(controllers=False) as sim:
        print(f"simulator at {sim.url}; {args.rounds} rounds each", file=sys.stderr)
        requests = bench_requests(sim, args.requests, args.threads, args.rounds)
        fanout = bench_watch(sim, args.watchers, args.writes, args.rounds)
    result = {
        "benchmark": "sim_throughput",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "parameters": vars(args),
        "requests": requests,
        "watch_fanout": fanout,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name, stats in requests.items():
        print(f"{name:28s} {stats['median']:10.0f} req/s (median)")
    print(
        f"watch fan-out ({args.watchers} watchers) "
        f"{fanout['events_delivered_per_s']['median']:10.0f} events/s, latency median "
        f"{fanout['delivery_latency_ms']['median']:.1f} ms, p99 "
        f"{fanout['delivery_latency_ms']['p99']:.1f} ms"
    )
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
