"""The local runtime's commands of ``ferry``: ``ferry sim``, ``ferry up`` and ``ferry demo``.

Registered with ``ferry``'s command line through the ``ferry.commands`` entry point group
(``pyproject.toml``), so the command-line package never imports ``local``. It parses arguments
and starts things; the work is done by ``local.sim``, ``local.runtime`` and ``local.demo``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sim``, ``up`` and ``demo`` to ``ferry``'s subcommands."""
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
    up.add_argument(
        "--no-data-plane",
        action="store_true",
        help="pretend Pods only, no nginx (by default the Pods of the demo app's images, e.g. "
        "podinfo, run as real processes on loopback addresses, and nginx routes by Ingresses)",
    )
    up.set_defaults(run=_up)

    demo = sub.add_parser("demo", help="run the demo on the embedded runtime")
    demo.add_argument(
        "--router",
        default="nginx",
        help="the traffic router: nginx (default), gatewayapi, istio, smi or none (replica counts)",
    )
    demo.add_argument(
        "--strategy",
        default="canary",
        choices=("canary", "bluegreen"),
        help="canary (default: weights and pauses) or bluegreen (a preview, then one switch)",
    )
    demo.add_argument(
        "--scenario",
        default="good-release",
        choices=("good-release", "bad-release", "no-users"),
        help="good-release (default: promoted), bad-release (podinfo:6.1.0-errors50: the "
        "analysis of real traffic catches it and the rollout aborts; nginx router only) or "
        "no-users (the same bad release with no users: Ferry's own load, spec.loadTest, "
        "gives the analysis its traffic)",
    )
    demo.set_defaults(run=_demo)


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
    return _until_signal(sim.stop)


def _until_signal(stop_serving: Callable[[], object]) -> int:
    """Serve until SIGINT or SIGTERM, then stop."""
    print("Press Ctrl-C to stop.", flush=True)
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    done.wait()
    stop_serving()
    print("stopped", flush=True)
    return 0


def _up(args: argparse.Namespace) -> int:
    from pathlib import Path

    from local.runtime import Options, Runtime

    options = Options(
        kubeconfig=args.kubeconfig,
        tick=args.tick,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        data_plane=not args.no_data_plane and not args.kubeconfig,
    )
    runtime = Runtime(options)
    try:
        runtime.start()
    except Exception as exc:
        print(f"ferry up: could not start: {exc}", file=sys.stderr)
        return 1
    print(f"Ferry is up. Broker: {runtime.broker_url}", flush=True)
    print(f"kubectl --kubeconfig {runtime.kubeconfig} get rollouts", flush=True)
    if runtime.ingress_url:
        print(
            f"Ingress (nginx): {runtime.ingress_url} — e.g. curl -H 'Host: app.example.com' "
            f"{runtime.ingress_url}/",
            flush=True,
        )
        print(
            f"Prometheus: {runtime.prometheus_url} (scrapes the ingress and the Pods)", flush=True
        )
    if runtime.sim is not None:  # a local administrator's token, in a file only its owner reads
        path = Path(runtime.kubeconfig).with_name("dashboard-token")
        path.touch(mode=0o600)
        path.write_text(runtime.sim.add_user("admin", groups=("system:masters",)) + "\n")
        print(f"Dashboard: {runtime.dashboard_url}/ (sign in with the token in {path})", flush=True)
    else:
        print(f"Dashboard: {runtime.dashboard_url}/ (sign in with a bearer token)", flush=True)
    return _until_signal(runtime.stop)


def _demo(args: argparse.Namespace) -> int:
    from local import demo

    try:
        router = demo.router_of(args.router)
    except ValueError as exc:
        print(f"ferry demo: {exc}", file=sys.stderr)
        return 2
    if args.scenario != "good-release" and (router != "nginx" or args.strategy != "canary"):
        print(
            f"ferry demo: the {args.scenario} scenario runs on the local data plane: use the nginx "
            "router and the canary strategy",
            file=sys.stderr,
        )
        return 2
    return demo.run(router, strategy=args.strategy, scenario=args.scenario)
