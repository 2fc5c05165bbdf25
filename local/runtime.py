"""``ferry up``: the whole of Ferry on one machine, wired exactly as the manifests say.

It starts (or connects to) a Kubernetes API, a real Redis, the functions (each mounted at
``/ferry-<name>`` of one local HTTP server, standing in for its Knative Service; with the data
plane, the load generator in a process of its own, ``local.served``), a Broker that
routes by ``knative/triggers.yaml``, the ApiServerSource and PingSource emulators of
``knative/sources.yaml``, and an RQ worker with its scheduler for timers. Ferry's CRDs, RBAC and
admission policies are installed first, and every component acts as the identity its manifest
names (``local.wiring``): each function as its ServiceAccount, RBAC deciding what it may do;
every delivery and every send carries a token its receiver checks. Stopping ends everything;
starting again with the same data directory resumes from Redis, and the first tick (sent at
start) moves every rollout on.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml
from flask import Flask
from kubernetes import client, config
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

import functions
from dashboard.app import create_app as create_dashboard
from dashboard.oidc import Oidc
from local import installation, redis_server
from local.broker import Broker, load_manifests
from local.demoapp.launch import DemoApp
from local.faults import Faults
from local.ingress.controller import IngressController
from local.prometheus_server import PrometheusServer
from local.served import Image, ServedFunction, free_port
from local.sim.cluster import Simulator
from local.sim.controllers import Settings as SimSettings
from local.sources import ApiServerSourceEmulator, PingSourceEmulator
from local.wiring import Wiring
from shared import telemetry
from shared.context import Context
from shared.endpoint import create_app
from shared.kube import Kube
from shared.settings import Settings
from shared.state import StateStore
from webhooks.app import create_app as create_webhooks

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

log = logging.getLogger(__name__)

KNATIVE_DIR = Path(__file__).resolve().parents[1] / "knative"
NAMESPACE = "ferry-system"
BROKER = "ferry"
DASHBOARD_ACCOUNT = "ferry-dashboard"
WEBHOOKS_ACCOUNT = "ferry-webhooks"
TIMER_WORKER = "ferry-timer"
"""The timer worker's ServiceAccount (knative/timer-worker.yaml): a token for the Broker only."""


class _Quiet(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s", self.requestline, code)


@dataclass
class Options:
    kubeconfig: str | None = None
    """An existing cluster; None starts the simulator."""
    tick: float = 60.0
    """Seconds between reconcile ticks (the PingSource's schedule, locally)."""
    data_dir: Path | None = None
    """Keeps Redis's AOF across restarts; None uses a temporary directory."""
    sim_settings: SimSettings = field(default_factory=lambda: SimSettings(pod_ready_delay=0.5))
    fault_injection: bool = False
    """Install :class:`~local.faults.Faults` (``Runtime.faults``) as the functions' hook."""
    manifests: Path = KNATIVE_DIR
    dashboard_oidc: Oidc | None = None
    """Sign-in with this OpenID Connect provider on the dashboard (besides tokens)."""
    slack_response_urls: str = "https://hooks.slack.com/"
    """Where the webhooks app may answer a Slack click (a local Slack API in tests)."""
    data_plane: bool = False
    """Run the local data plane: the simulated kubelet starts the demo app (``local/demoapp``)
    for the Pods of its images, as real processes, and a real nginx routes by the Ingresses
    (``local/ingress``) (``ferry up`` does; tests ask for it). The functions of
    :data:`OWN_PROCESS` then run in processes of their own (``local.served``)."""
    image: Image | None = None
    """Run every function in a process of its own inside this root filesystem of Ferry's
    image (``local.served.Image``: ``make image``, unpacked), as its container would."""


OWN_PROCESS = ("load",)
"""Functions served by ``ferry serve`` in a process of their own with the data plane: the load
generator works for long stretches (``local.served``)."""


class Runtime:
    """Everything ``ferry up`` runs; :meth:`start` and :meth:`stop` it, or use ``with``."""

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()
        self.sim: Simulator | None = None
        self.faults = Faults()
        """Crashes armed by tests (installed only with ``Options.fault_injection``)."""
        self.redis: redis_server.RedisServer | None = None
        self.redis_url = ""
        self.kubeconfig = ""
        self.broker: Broker | None = None
        self.ingress: IngressController | None = None
        self.ingress_url = ""
        """The local data plane's nginx (``Options.data_plane``): Ingresses route from here."""
        self.prometheus: PrometheusServer | None = None
        self.prometheus_url = ""
        """The local data plane's Prometheus: it scrapes the ingress and the live Pods."""
        self.broker_url = ""
        self.functions_url = ""
        """Base URL of the functions' host: function ``x`` is served at ``/ferry-x/``."""
        self.dashboard_url = ""
        """The dashboard (``knative/dashboard.yaml``), as its ServiceAccount, on plain HTTP."""
        self._dashboard: BaseWSGIServer | None = None
        self.webhooks_url = ""
        """The webhooks app (``knative/webhooks.yaml``): Slack's buttons at ``/slack/actions``."""
        self.slack_signing_secret = secrets.token_hex(16).encode()
        """The Slack app's signing secret the webhooks app checks (made for this run)."""
        self._webhooks: BaseWSGIServer | None = None
        self.webhook_key = secrets.token_bytes(32)
        """The key sealing verified webhooks, shared by the webhooks app and the functions."""
        self.store: StateStore | None = None
        self._api: client.ApiClient | None = None
        self._functions: BaseWSGIServer | None = None
        self._sources: list[ApiServerSourceEmulator | PingSourceEmulator] = []
        self._worker: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._stopping = threading.Event()
        self._wiring: Wiring | None = None
        self.served: dict[str, ServedFunction] = {}
        """The functions running in processes of their own (``OWN_PROCESS``), by name."""
        self._served_ports: dict[str, int] = {}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Runtime:
        if not self.options.manifests.is_dir():
            raise RuntimeError(
                f"the manifests folder {self.options.manifests} is missing: run Ferry from a "
                "checkout (pip install -e .)"
            )
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._stopping.clear()
        self._tmp = tempfile.TemporaryDirectory(prefix="ferry-up-")
        work = Path(self._tmp.name)
        data_dir = self.options.data_dir
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
        self.redis_url, self.redis = redis_server.url_from_env_or_start(data_dir=data_dir)
        if self.options.kubeconfig:
            self.kubeconfig = self.options.kubeconfig
            self._api = config.new_client_from_config(config_file=self.kubeconfig)  # type: ignore[no-untyped-call]
        else:
            sim_settings = self.options.sim_settings
            if self.options.data_plane and sim_settings.live is None:
                sim_settings = replace(sim_settings, live=DemoApp())
            self.sim = Simulator(settings=sim_settings).start()
            self.kubeconfig = str(self.sim.write_kubeconfig((data_dir or work) / "kubeconfig"))
            self._api = self.sim.api_client()
            if self.options.data_plane:
                self.ingress = IngressController(self._api).start()
                self.ingress_url = self.ingress.url
                self.prometheus = PrometheusServer(self.ingress.metrics_address).start()
                self.prometheus_url = self.prometheus.url
                self.ingress.on_endpoints = self.prometheus.targets
                self.ingress.resync()
        kube = Kube(self._api)
        installation.install(kube, self.options.manifests)
        wiring = Wiring(kube, self._api.configuration, self.options.manifests, NAMESPACE)
        self._wiring = wiring

        # Functions first (their URLs are needed to build the Broker), served lazily: the
        # Context only needs the Broker's URL when a function runs.
        host = make_server("127.0.0.1", 0, NotFound(), threaded=True, request_handler=_Quiet)
        self._functions = host  # serving at once, so stop() can always shut it down
        threading.Thread(target=host.serve_forever, name="ferry-functions", daemon=True).start()
        functions_url = f"http://127.0.0.1:{host.server_port}"
        self.functions_url = functions_url
        apart: tuple[str, ...] = OWN_PROCESS if self.options.data_plane else ()
        if self.options.image is not None:
            apart = (*functions.ROUTES, functions.DEAD_LETTER)
        self._served_ports = {f"{functions.SERVICE_PREFIX}{n}": free_port() for n in apart}
        manifests = load_manifests(
            [self.options.manifests / "broker.yaml", self.options.manifests / "triggers.yaml"]
        )
        self.broker = Broker(
            manifests,
            lambda ref: self._resolve(ref, functions_url),
            namespace=NAMESPACE,
            authenticate=wiring.broker_senders(BROKER).check,
            credentials=wiring.trigger_credentials(),
        ).start()
        self.broker_url = self.broker.ingress_url(NAMESPACE, BROKER)
        settings = Settings(redis_url=self.redis_url, broker_url=self.broker_url)
        shared_context = Context.from_settings(settings, kube=kube)
        self.store = shared_context.store
        self._start_dashboard(wiring, shared_context)
        shared_context.dashboard_url = self.dashboard_url  # notifications link to it
        shared_context.webhook_key = self.webhook_key
        shared_context.git_protocols = "file:https:ssh"  # local repositories are meant here
        self._start_webhooks(wiring, shared_context)
        apps = {
            f"/{functions.SERVICE_PREFIX}{name}": self._app(name, wiring, shared_context)
            for name in [*functions.ROUTES, functions.DEAD_LETTER]
            if name not in apart
        }
        for name in apart:
            self.served[name] = ServedFunction(
                name,
                wiring=wiring,
                base=self._api.configuration,
                redis_url=self.redis_url,
                broker_url=self.broker_url,
                broker_audience=wiring.broker_audience(BROKER),
                work=work,
                stopping=self._stopping,
                port=self._served_ports[f"{functions.SERVICE_PREFIX}{name}"],
                image=self.options.image,
            ).start()
        host.app = DispatcherMiddleware(NotFound(), cast("dict[str, WSGIApplication]", apps))

        self._start_worker(settings, wiring, work)
        for source in self._source_manifests():
            token = wiring.source_token(source, BROKER)
            if source["kind"] == "ApiServerSource":
                emulator: Any = ApiServerSourceEmulator(
                    source, wiring.source_api(source), self.broker_url, token=token
                )
            else:
                emulator = PingSourceEmulator(
                    source, self.broker_url, self.options.tick, token=token
                )
            self._sources.append(emulator)
            emulator.start()
        for served in self.served.values():
            served.wait_ready()
        self.tick()  # the first tick resumes whatever was in flight

    def _start_webhooks(self, wiring: Wiring, shared_context: Context) -> None:
        """The webhooks app on a port of its own, as its ServiceAccount."""
        app = create_webhooks(
            wiring.api(WEBHOOKS_ACCOUNT),
            shared_context.store,
            self.slack_signing_secret,
            namespace=NAMESPACE,
            response_urls=self.options.slack_response_urls,
            broker_url=self.broker_url,
            broker_token=wiring.tokens(WEBHOOKS_ACCOUNT, wiring.broker_audience(BROKER)).token,
            webhook_key=self.webhook_key,
        )
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
        self._webhooks = server
        self.webhooks_url = f"http://127.0.0.1:{server.server_port}"
        threading.Thread(target=server.serve_forever, name="ferry-webhooks", daemon=True).start()

    def _start_dashboard(self, wiring: Wiring, shared_context: Context) -> None:
        """The dashboard on a port of its own (cookies without ``Secure``: plain HTTP on
        127.0.0.1), signing sessions with a key made for this run."""
        app = create_dashboard(
            wiring.api(DASHBOARD_ACCOUNT),
            shared_context.store,
            secrets.token_bytes(32),
            secure_cookies=False,
            oidc=self.options.dashboard_oidc,
        )
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
        self._dashboard = server
        self.dashboard_url = f"http://127.0.0.1:{server.server_port}"
        threading.Thread(target=server.serve_forever, name="ferry-dashboard", daemon=True).start()

    def _app(self, name: str, wiring: Wiring, shared_context: Context) -> Any:
        """Function ``name``'s app, acting as its Knative Service's ServiceAccount."""
        service = f"{functions.SERVICE_PREFIX}{name}"
        identity = wiring.functions.get(service)
        context = shared_context
        if identity is not None:
            broker_tokens = wiring.tokens(identity.service_account, wiring.broker_audience(BROKER))
            context = replace(
                context,
                kube=wiring.api(identity.service_account),
                broker_token=broker_tokens.token,
            )
        if self.options.fault_injection:
            context = replace(
                context, before_commit=self.faults.before, after_commit=self.faults.after
            )
        return create_app(name, functions.handler(name), context, wiring.function_senders(service))

    def _source_manifests(self) -> list[dict[str, Any]]:
        """The sources of ``sources.yaml`` and of ``route-watch/`` (a kind the cluster does not
        serve yet is looked for again until it is, as its CRD may come later)."""
        paths = [
            self.options.manifests / "sources.yaml",
            *sorted((self.options.manifests / "route-watch").glob("*.yaml")),
        ]
        return [
            doc
            for path in paths
            for doc in yaml.safe_load_all(path.read_text())
            if isinstance(doc, dict) and doc.get("kind") in installation.SOURCES
        ]

    def _resolve(self, ref: dict[str, Any], functions_url: str) -> str:
        if ref.get("kind") != "Service" or not str(ref.get("apiVersion", "")).startswith(
            "serving.knative.dev/"
        ):
            raise ValueError(f"the local runtime serves Knative Services only, not {ref}")
        if ref["name"] in self._served_ports:
            return f"http://127.0.0.1:{self._served_ports[ref['name']]}/"
        return f"{functions_url}/{ref['name']}/"

    def _start_worker(self, settings: Settings, wiring: Wiring, work: Path) -> None:
        token_file = work / "timer-worker-token"
        tokens = wiring.tokens(TIMER_WORKER, wiring.broker_audience(BROKER))
        tokens.keep_file(token_file, self._stopping)
        env = dict(
            os.environ,
            REDIS_URL=settings.redis_url,
            FERRY_BROKER_URL=settings.broker_url,
            FERRY_BROKER_TOKEN_FILE=str(token_file),
        )
        command = [
            sys.executable,
            "-m",
            "rq.cli",
            "worker",
            "--with-scheduler",
            "--quiet",
            "--url",
            settings.redis_url,
            settings.timer_queue,
        ]
        if shutil.which(sys.executable) is None:  # pragma: no cover - sys.executable exists
            raise RuntimeError("cannot find the Python interpreter to run the RQ worker")
        self._worker = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)

    def function_url(self, name: str) -> str:
        """Where function ``name`` receives CloudEvents (its Knative Service's address)."""
        if not self.functions_url:
            raise RuntimeError("the runtime is not started")
        if name in self.served:
            return self.served[name].url
        return f"{self.functions_url}/{functions.SERVICE_PREFIX}{name}/"

    def token(self, audience: str, service_account: str = "ferry-test-sender") -> str:
        """A token of ``service_account`` in Ferry's namespace for ``audience``: how a
        component of Ferry's proves who it is (tests send events as one)."""
        if self._wiring is None:
            raise RuntimeError("the runtime is not started")
        return self._wiring.tokens(service_account, audience).token()

    def audience(self, function: str | None = None) -> str:
        """The audience of function ``function``'s deliveries, or of the Broker's (None)."""
        if self._wiring is None:
            raise RuntimeError("the runtime is not started")
        if function is None:
            return self._wiring.broker_audience(BROKER)
        found = self._wiring.functions.get(f"{functions.SERVICE_PREFIX}{function}")
        if found is None or not found.audience:
            raise ValueError(f"function {function} has no audience in the manifests")
        return found.audience

    def wait_watching(self, timeout: float = 10.0) -> bool:
        """True once every ApiServerSource watches all its kinds (a kind whose CRD came after
        the start is found within a second)."""
        deadline = time.monotonic() + timeout
        return all(
            emulator.wait_synced(max(0.0, deadline - time.monotonic()))
            for emulator in self._sources
            if isinstance(emulator, ApiServerSourceEmulator)
        )

    def tick(self) -> None:
        """Send a reconcile tick now (as the PingSource would on its schedule)."""
        for emulator in self._sources:
            if isinstance(emulator, PingSourceEmulator):
                emulator.fire_now()

    def stop(self) -> None:
        self._stopping.set()
        for emulator in self._sources:
            emulator.stop()
        stopped, self._sources = self._sources, []
        telemetry.flush()  # the counts, before Redis stops
        if self._worker is not None:
            self._worker.terminate()
            try:
                self._worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._worker.kill()
                self._worker.wait()
            self._worker = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        for served in self.served.values():
            served.stop()
        self.served = {}
        if self._dashboard is not None:
            cast("Flask", self._dashboard.app).extensions["ferry_catalog"].stop()
            self._dashboard.shutdown()
            self._dashboard.server_close()
            self._dashboard = None
            self.dashboard_url = ""
        if self._webhooks is not None:
            self._webhooks.shutdown()
            self._webhooks.server_close()
            self._webhooks = None
            self.webhooks_url = ""
        if self._functions is not None:
            self._functions.shutdown()
            self._functions.server_close()
            self._functions = None
            self.functions_url = ""
        if self.ingress is not None:
            self.ingress.stop()
            self.ingress = None
            self.ingress_url = ""
        if self.prometheus is not None:
            self.prometheus.stop()
            self.prometheus = None
            self.prometheus_url = ""
        if self._api is not None:
            self._api.close()  # type: ignore[no-untyped-call]
            self._api = None
        if self.sim is not None:
            self.sim.stop()
            self.sim = None
        for emulator in stopped:  # their last requests fail at once now: nothing outlives us
            if isinstance(emulator, ApiServerSourceEmulator):
                emulator.join()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
