"""``ferry``: the command line of the embedded local runtime (``ferry sim``, ``ferry demo``).

It parses arguments and starts things; the work is done by ``local.sim`` and ``local.demo``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from shared.version import VERSION


def _sim(args: argparse.Namespace) -> int:
    from local.sim.cluster import Simulator
    from local.sim.controllers import Settings

    settings = Settings(pod_ready_delay=args.pod_ready_delay, job_run_seconds=args.job_run_seconds)
    sim = Simulator(host=args.host, port=args.port, settings=settings)
    try:
        sim.start()
    except OSError as exc:
        print(
            f"ferry sim: cannot listen on {args.host}:{args.port}: {exc.strerror}; "
            "choose another --port (0 picks a free one)",
            file=sys.stderr,
        )
        return 1
    path = sim.write_kubeconfig(args.kubeconfig)
    print(f"Kubernetes API simulator serving at {sim.url}", flush=True)
    print(f"kubeconfig written to {path}; try: kubectl --kubeconfig {path} get ns", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    _wait_for_signal()
    sim.stop()
    print("stopped", flush=True)
    return 0


def _wait_for_signal() -> None:
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    done.wait()


def _up(args: argparse.Namespace) -> int:
    from pathlib import Path

    from local.runtime import Options, Runtime

    options = Options(
        kubeconfig=args.kubeconfig,
        tick=args.tick,
        data_dir=Path(args.data_dir) if args.data_dir else None,
    )
    runtime = Runtime(options)
    try:
        runtime.start()
    except Exception as exc:
        print(f"ferry up: could not start: {exc}", file=sys.stderr)
        return 1
    print(f"Ferry is up. Broker: {runtime.broker_url}", flush=True)
    print(f"kubectl --kubeconfig {runtime.kubeconfig} get rollouts", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    _wait_for_signal()
    runtime.stop()
    print("stopped", flush=True)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from kubernetes.config import ConfigException
    from waitress import serve

    import functions
    from shared.context import Context
    from shared.endpoint import create_app
    from shared.settings import Settings

    try:
        handler = functions.handler(args.function)
        context = Context.from_settings(Settings.from_env())
    except (ValueError, RuntimeError, ConfigException) as exc:
        print(f"ferry serve: {exc}", file=sys.stderr)
        return 2
    app = create_app(args.function, handler, context)
    serve(app, host="0.0.0.0", port=args.port, threads=8, ident="ferry")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from local import demo

    return demo.run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferry", description="Ferry's embedded local runtime.")
    parser.add_argument("--version", action="version", version=f"ferry {VERSION}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("sim", help="serve a simulated Kubernetes API in the foreground")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    sim.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    sim.add_argument(
        "--kubeconfig",
        default="ferry-sim.kubeconfig",
        help="where to write the kubeconfig (default: ./ferry-sim.kubeconfig)",
    )
    sim.add_argument(
        "--pod-ready-delay", type=float, default=1.0, help="seconds until a Pod becomes Ready"
    )
    sim.add_argument("--job-run-seconds", type=float, default=1.0, help="seconds a Job's Pod runs")
    sim.set_defaults(run=_sim)

    up = sub.add_parser("up", help="run all of Ferry locally (simulated cluster by default)")
    up.add_argument("--kubeconfig", help="use this cluster instead of starting the simulator")
    up.add_argument("--tick", type=float, default=60.0, help="seconds between reconcile ticks")
    up.add_argument("--data-dir", help="keep Redis data here, to resume after a restart")
    up.set_defaults(run=_up)

    serve = sub.add_parser("serve", help="serve one function over HTTP (in a Knative Service)")
    serve.add_argument("function", help="the function's name, e.g. detect")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve.set_defaults(run=_serve)

    demo = sub.add_parser("demo", help="run the demo on the embedded runtime")
    demo.set_defaults(run=_demo)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
