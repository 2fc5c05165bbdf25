"""How fast Ferry takes traffic away from a failing canary, on the embedded runtime.

Each round rolls out a new revision whose steps are ``setWeight 20`` then an analysis (a web
metric against a local endpoint). The endpoint answers "failing" to the first measurement; the
round measures from the moment that failing measurement arrives at the endpoint to the moment
the canary Ingress's weight is committed as 0 (seen by a watch inside the simulator). Reported:
median and p99 over the rounds, with the same interval for the time the full chain
(measure -> abort) spends in Ferry's functions. Writes JSON; prints a summary. ``make bench``.
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local import demo
from local.runtime import Options, Runtime
from local.sim.controllers import Settings as SimSettings
from shared import models
from shared.events import RolloutRef
from shared.kube import Kube
from shared.state import Stage

WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"


class Endpoint:
    """Answers ``{"ok": false}`` and notes when each measurement arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.lock = threading.Lock()
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with endpoint.lock:
                    endpoint.arrivals.append(time.perf_counter())
                body = b'{"ok": false}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait(predicate: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.005)
    raise TimeoutError("the benchmark's rollout did not get there in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="bench/results/abort_reaction.json")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    endpoint = Endpoint()
    options = Options(tick=3600.0, sim_settings=SimSettings(pod_ready_delay=0.05, tick=0.01))
    reactions: list[float] = []
    with Runtime(options) as runtime:
        assert runtime.sim is not None and runtime.store is not None
        kube = Kube(runtime.sim.api_client())
        kube.create(
            {
                "apiVersion": models.API_VERSION,
                "kind": "AnalysisTemplate",
                "metadata": {"name": "health", "namespace": demo.NAMESPACE},
                "spec": {
                    "metrics": [
                        {
                            "name": "health",
                            "successCondition": "result == true",
                            "provider": {"web": {"url": endpoint.url, "jsonPath": "{$.ok}"}},
                        }
                    ]
                },
            }
        )
        kube.create(demo.deployment("podinfo:0"))
        kube.create(demo.ingress())
        kube.create(
            demo.rollout(
                None,
                strategy={
                    "canary": {
                        "steps": [
                            {"setWeight": 20},
                            {"analysis": {"templates": [{"templateName": "health"}]}},
                        ],
                        "abortScaleDownDelaySeconds": 0,
                    }
                },
            )
        )
        ingress_rt = runtime.sim.registry.versions_of("networking.k8s.io", "ingresses")[0]
        zeroed: list[float] = []

        def follow() -> None:
            watcher, _ = runtime.sim.store.watch(ingress_rt, demo.NAMESPACE)  # type: ignore[union-attr]
            for event in watcher:
                if event.obj["metadata"]["name"] != f"{demo.NAME}-canary":
                    continue
                weight = (event.obj["metadata"].get("annotations") or {}).get(WEIGHT)
                if weight == "0" and (event.old or {}).get("metadata", {}).get(
                    "annotations", {}
                ).get(WEIGHT) not in (None, "0"):
                    zeroed.append(time.perf_counter())

        threading.Thread(target=follow, daemon=True).start()
        store, ref = runtime.store, RolloutRef(demo.NAMESPACE, demo.NAME)
        wait(lambda: store.load(ref).stage == Stage.HEALTHY, 30)
        print(f"{args.rounds} rounds: measurement arrival -> canary weight 0", file=sys.stderr)
        for n in range(args.rounds):
            arrivals_before, zeroed_before = len(endpoint.arrivals), len(zeroed)
            kube.merge_patch(
                "apps/v1",
                "deployments",
                demo.NAMESPACE,
                demo.NAME,
                {
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [{"name": "podinfo", "image": f"podinfo:{n + 1}"}]
                            }
                        }
                    }
                },
            )
            wait(lambda z=zeroed_before: len(zeroed) > z, 30)
            arrival = endpoint.arrivals[arrivals_before]
            reactions.append(zeroed[zeroed_before] - arrival)
            wait(lambda: store.load(ref).stage == Stage.ABORTED, 30)
            print(f"  round {n + 1:3d}: {1000 * reactions[-1]:7.1f} ms", file=sys.stderr)
    endpoint.server.shutdown()
    result = {
        "benchmark": "abort_reaction",
        "what": "seconds from the failing measurement's arrival at the metric endpoint to the "
        "canary Ingress weight committed as 0",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rounds": args.rounds,
        "reaction_ms": {
            "median": 1000 * statistics.median(reactions),
            "p99": 1000 * percentile(reactions, 0.99),
            "min": 1000 * min(reactions),
            "max": 1000 * max(reactions),
        },
        "samples_ms": [round(1000 * r, 2) for r in reactions],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"abort reaction: median {result['reaction_ms']['median']:.1f} ms, "
        f"p99 {result['reaction_ms']['p99']:.1f} ms over {args.rounds} rounds -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
