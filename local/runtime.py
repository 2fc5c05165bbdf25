"""``ferry up``: the whole of Ferry on one machine, wired exactly as the manifests say.

It starts (or connects to) a Kubernetes API, a real Redis, the functions (each mounted at
``/ferry-<name>`` of one local HTTP server, standing in for its Knative Service), a Broker that
routes by ``knative/triggers.yaml``, the ApiServerSource and PingSource emulators of
``knative/sources.yaml``, and an RQ worker with its scheduler for timers. Ferry's CRDs are
installed first. Stopping ends everything; starting again with the same data directory resumes
from Redis, and the first tick (sent at start) moves every rollout on.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml
from kubernetes import client, config
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

import functions
from local import redis_server
from local.broker import Broker, load_manifests
from local.faults import Faults
from local.sim.cluster import Simulator
from local.sim.controllers import Settings as SimSettings
from local.sources import ApiServerSourceEmulator, PingSourceEmulator
from shared.context import Context
from shared.endpoint import create_app
from shared.kube import Kube
from shared.settings import Settings
from shared.state import StateStore

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

log = logging.getLogger(__name__)

KNATIVE_DIR = Path(__file__).resolve().parents[1] / "knative"
NAMESPACE = "ferry-system"
BROKER = "ferry"


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
        self.broker_url = ""
        self.functions_url = ""
        """Base URL of the functions' host: function ``x`` is served at ``/ferry-x/``."""
        self.store: StateStore | None = None
        self._api: client.ApiClient | None = None
        self._functions: BaseWSGIServer | None = None
        self._sources: list[ApiServerSourceEmulator | PingSourceEmulator] = []
        self._worker: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

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
            self.sim = Simulator(settings=self.options.sim_settings).start()
            self.kubeconfig = str(self.sim.write_kubeconfig((data_dir or work) / "kubeconfig"))
            self._api = self.sim.api_client()
        kube = Kube(self._api)
        self._install_crds(kube)

        # Functions first (their URLs are needed to build the Broker), served lazily: the
        # Context only needs the Broker's URL when a function runs.
        host = make_server("127.0.0.1", 0, NotFound(), threaded=True, request_handler=_Quiet)
        self._functions = host
        functions_url = f"http://127.0.0.1:{host.server_port}"
        self.functions_url = functions_url
        manifests = load_manifests(
            [self.options.manifests / "broker.yaml", self.options.manifests / "triggers.yaml"]
        )
        self.broker = Broker(
            manifests,
            lambda ref: self._resolve(ref, functions_url),
            namespace=NAMESPACE,
        ).start()
        self.broker_url = self.broker.ingress_url(NAMESPACE, BROKER)
        settings = Settings(redis_url=self.redis_url, broker_url=self.broker_url)
        context = Context.from_settings(settings, kube=kube)
        if self.options.fault_injection:
            context = replace(context, before_commit=self.faults)
        self.store = context.store
        apps = {
            f"/{functions.SERVICE_PREFIX}{name}": create_app(name, functions.handler(name), context)
            for name in [*functions.ROUTES, functions.DEAD_LETTER]
        }
        host.app = DispatcherMiddleware(NotFound(), cast("dict[str, WSGIApplication]", apps))
        threading.Thread(target=host.serve_forever, name="ferry-functions", daemon=True).start()

        self._start_worker(settings)
        for source in self._source_manifests():
            if source["kind"] == "ApiServerSource":
                emulator: Any = ApiServerSourceEmulator(source, self._api, self.broker_url)
            else:
                emulator = PingSourceEmulator(source, self.broker_url, self.options.tick)
            self._sources.append(emulator)
            emulator.start()
        self.tick()  # the first tick resumes whatever was in flight

    def _source_manifests(self) -> list[dict[str, Any]]:
        text = (self.options.manifests / "sources.yaml").read_text()
        return [
            doc
            for doc in yaml.safe_load_all(text)
            if isinstance(doc, dict) and doc.get("kind") in ("ApiServerSource", "PingSource")
        ]

    def _resolve(self, ref: dict[str, Any], functions_url: str) -> str:
        if ref.get("kind") != "Service" or not str(ref.get("apiVersion", "")).startswith(
            "serving.knative.dev/"
        ):
            raise ValueError(f"the local runtime serves Knative Services only, not {ref}")
        return f"{functions_url}/{ref['name']}/"

    def _install_crds(self, kube: Kube) -> None:
        for path in sorted((self.options.manifests / "crds").glob("*.yaml")):
            for crd in yaml.safe_load_all(path.read_text()):
                if not crd:
                    continue
                name = crd["metadata"]["name"]
                current = kube.get(
                    "apiextensions.k8s.io/v1", "customresourcedefinitions", None, name
                )
                if current is None:
                    kube.request(
                        "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crd
                    )
                else:
                    crd["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                    kube.request(
                        "PUT",
                        f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}",
                        body=crd,
                    )

    def _start_worker(self, settings: Settings) -> None:
        env = dict(os.environ, REDIS_URL=settings.redis_url, FERRY_BROKER_URL=settings.broker_url)
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
        return f"{self.functions_url}/{functions.SERVICE_PREFIX}{name}/"

    def tick(self) -> None:
        """Send a reconcile tick now (as the PingSource would on its schedule)."""
        for emulator in self._sources:
            if isinstance(emulator, PingSourceEmulator):
                emulator.fire_now()

    def stop(self) -> None:
        for emulator in self._sources:
            emulator.stop()
        self._sources = []
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
        if self._functions is not None:
            self._functions.shutdown()
            self._functions.server_close()
            self._functions = None
            self.functions_url = ""
        if self._api is not None:
            self._api.close()  # type: ignore[no-untyped-call]
            self._api = None
        if self.sim is not None:
            self.sim.stop()
            self.sim = None
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
