"""What checking the sender of every delivery costs a function, measured side by side.

One function (``detect``) is served twice on the same process, Redis and API server: once
checking each delivery's token with a TokenReview (``shared.senders``, as ``ferry serve`` does)
and once accepting every delivery. Requests alternate between the two, a token for the
function's audience on each; the event is one ``detect`` drops at once (a ConfigMap change), so
the difference is the check. Reported: median and p99 of each, and their ratio, with the first
request of the checking one (its review is not cached yet) shown apart. Writes JSON; prints a
summary. ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import requests
from werkzeug.serving import make_server

import functions
from local.redis_server import RedisServer
from local.sim.cluster import Simulator
from shared import events
from shared.context import Context
from shared.endpoint import create_app
from shared.events import RolloutRef, Type
from shared.kube import Kube
from shared.senders import Senders
from shared.settings import Settings

AUDIENCE = "ferry.dev/functions/detect"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def serve(app: object) -> str:
    server = make_server("127.0.0.1", 0, app, threaded=True)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/"


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--out", default="bench/results/sender_auth.json")
    args = parser.parse_args()
    with Simulator(controllers=False) as sim, RedisServer() as redis_server:
        kube = Kube(sim.api_client())
        kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "ferry-system"}})
        kube.request(
            "POST",
            "/api/v1/namespaces/ferry-system/serviceaccounts",
            body={"metadata": {"name": "sender"}},
        )
        token = sim.service_account_token("ferry-system", "sender", [AUDIENCE])
        settings = Settings(redis_url=redis_server.url, broker_url="http://127.0.0.1:9/")
        context = Context.from_settings(settings, kube=kube)
        handler = functions.handler("detect")
        senders = Senders(kube, AUDIENCE, ("system:serviceaccount:ferry-system:*",))
        checked = serve(create_app("detect", handler, context, senders))
        open_ = serve(create_app("detect", handler, context))
        config_map = {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}}
        event = events.new(Type.RESOURCE_UPDATED, RolloutRef("default", "x"), data=config_map)
        headers, body = events.to_http(event)
        headers["Authorization"] = f"Bearer {token}"
        session = requests.Session()

        def once(url: str) -> float:
            started = time.perf_counter()
            answer = session.post(url, data=body, headers=headers, timeout=10)
            elapsed = time.perf_counter() - started
            if answer.status_code != 202:
                raise RuntimeError(f"{url} answered {answer.status_code}: {answer.text}")
            return elapsed

        first = once(checked)
        timings: dict[str, list[float]] = {"checked": [], "open": []}
        print(f"{args.requests} requests to each, alternating", file=sys.stderr)
        for _ in range(args.requests):
            timings["checked"].append(once(checked))
            timings["open"].append(once(open_))
    medians = {k: 1000 * statistics.median(v) for k, v in timings.items()}
    result = {
        "benchmark": "sender_auth",
        "what": "milliseconds per delivery to a function, checking the sender's token "
        "(a cached TokenReview) or not, requests alternating in one run",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "requests": args.requests,
        "first_checked_ms": round(1000 * first, 2),
        "median_ms": {k: round(v, 2) for k, v in medians.items()},
        "p99_ms": {k: round(1000 * percentile(v, 0.99), 2) for k, v in timings.items()},
        "ratio_checked_to_open": round(medians["checked"] / medians["open"], 2),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"sender check: median {medians['checked']:.2f} ms vs {medians['open']:.2f} ms unchecked "
        f"(x{result['ratio_checked_to_open']}); first request {result['first_checked_ms']} ms "
        f"-> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
