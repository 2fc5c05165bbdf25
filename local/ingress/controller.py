"""The local ingress controller: watches the API and keeps a real nginx routing by it.

It watches Ingresses, Services and Endpoints in every namespace (the official client, the
API's watch), and on each change renders the configuration (``routes``, ``conf``); a new one is
checked with ``nginx -t`` and only then put in place and loaded with SIGHUP, nginx's graceful
reload (old workers finish the requests they hold, so none is lost). A configuration nginx
refuses is logged and the last good one stays. nginx listens on a free port of 127.0.0.1
(:attr:`IngressController.url`); requests with a ``Host`` header reach the Pods of the Ingress
for that host. Its access log (``<prefix>/access.log``, JSON lines) records each request's
Ingress, upstream and status. :meth:`stop` ends nginx and every thread it started.

It also serves ingress-nginx's Prometheus metrics (``metrics``) at ``/metrics`` on
:attr:`metrics_address`, and hands each listing of Endpoints to ``on_endpoints`` (the local
Prometheus's targets). It writes nothing to the API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import grp
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from local.ingress import conf, httproutes, routes
from local.ingress.metrics import CONTENT_TYPE, AccessLogMetrics

log = logging.getLogger(__name__)
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy

WATCH_SECONDS = 1
"""A watch is renewed this often (so :meth:`IngressController.stop` ends its threads soon)."""
NOT_SERVED_AGAIN = 2.0
"""Seconds before a kind the API does not serve (HTTPRoutes without their CRD) is asked again."""
GATEWAY_API = ("gateway.networking.k8s.io", "v1", "httproutes")
SETTLE = 0.02
"""Seconds a burst of changes is given to finish before the configuration is rendered."""


class NginxMissing(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _plain(api: client.ApiClient, obj: Any) -> dict[str, Any]:
    return dict(api.sanitize_for_serialization(obj))  # type: ignore[no-untyped-call]


class IngressController:
    """nginx routing by the cluster's Ingresses; :meth:`start`, then :meth:`stop`."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        ingress_class: str = "nginx",
        nginx: str = "nginx",
        on_endpoints: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.api = api
        self.on_endpoints = on_endpoints
        self.ingress_class = ingress_class
        found = shutil.which(nginx)
        if found is None:
            raise NginxMissing(
                f"{nginx} is not installed: the local data plane needs it (Debian: apt-get "
                "install nginx-light); or start without the data plane (ferry up --no-data-plane)"
            )
        self.nginx = found
        self.prefix = Path(tempfile.mkdtemp(prefix="ferry-ingress-"))
        (self.prefix / "tmp").mkdir()
        if os.geteuid() == 0:  # its workers (nobody) write request bodies under tmp/
            self.prefix.chmod(0o755)
            (self.prefix / "tmp").chmod(0o777)
        self.port = 0
        self._unavailable = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stopped = threading.Event()
        self._dirty = threading.Event()
        self._threads: list[threading.Thread] = []
        self._text = ""
        self.reloads = 0
        """Configurations nginx serves since the start (the first one included): counted once
        its new workers answer with it, not when the signal is sent."""
        self.problems: list[str] = []
        """What the last rendering could not carry (see ``routes``), and nginx's last refusal."""
        self._loaded = threading.Condition()
        self._parts: tuple[
            list[routes.Route], list[httproutes.Rule], Mapping[routes.Backend, list[str]]
        ] = ([], [], {})
        self.metrics = AccessLogMetrics(self.access_log)
        self._metrics_server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.prefix / "access.log"

    @property
    def metrics_address(self) -> str:
        """``127.0.0.1:PORT`` of the metrics endpoint (``/metrics``)."""
        assert self._metrics_server is not None, "start() first"
        return f"127.0.0.1:{self._metrics_server.server_address[1]}"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> IngressController:
        self.port, self._unavailable = free_port(), free_port()
        text = self._render(empty=True)
        (self.prefix / conf.GENERATION).write_text(conf.generation(1))
        if not self._check_and_place(text):
            shutil.rmtree(self.prefix, ignore_errors=True)
            raise RuntimeError(f"nginx refused the initial configuration: {self.problems}")
        self._process = subprocess.Popen(  # a fixed argv, never a shell
            [self.nginx, *self._args(), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while not _listening(self.port) or not self._serving(1, timeout=0.05):
            if self._process.poll() is not None or time.monotonic() > deadline:
                if self._process.poll() is None:  # alive but not listening: end it first
                    self._process.kill()
                    self._process.wait()
                error = self._process.stderr.read().decode() if self._process.stderr else ""
                self.stop()
                raise RuntimeError(f"nginx did not start: {error.strip() or 'no answer'}")
            time.sleep(0.02)
        self._text = text
        self.reloads = 1
        self._metrics_server = _serve_metrics(self.metrics)
        self._threads.append(
            threading.Thread(
                target=self._metrics_server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="ingress-metrics",
                daemon=True,
            )
        )
        self._threads[-1].start()
        for name, kind in (
            ("ingresses", "ingress"),
            ("httproutes", "httproute"),
            ("services", "service"),
            ("endpoints", ""),
        ):
            thread = threading.Thread(
                target=self._watch, args=(name,), name=f"ingress-watch-{kind or name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        renderer = threading.Thread(target=self._loop, name="ingress-render", daemon=True)
        self._threads.append(renderer)
        renderer.start()
        self._dirty.set()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._dirty.set()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        for thread in self._threads:
            thread.join(timeout=WATCH_SECONDS + 5)
        self._threads = []
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGQUIT)  # graceful: in-flight requests finish
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stderr is not None:
                self._process.stderr.close()
            self._process = None
        shutil.rmtree(self.prefix, ignore_errors=True)

    def __enter__(self) -> IngressController:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def resync(self) -> None:
        """Render again from a fresh listing (as after a change)."""
        self._dirty.set()

    def wait_reloaded(self, after: int, timeout: float = 10.0) -> bool:
        """True once more than ``after`` configurations were loaded (nginx's new workers
        answer with the newer one)."""
        with self._loaded:
            return self._loaded.wait_for(lambda: self.reloads > after, timeout)

    # ------------------------------------------------------------------ watching

    def _lister(self, kind: str) -> Callable[..., Any]:
        if kind == "httproutes":
            custom = client.CustomObjectsApi(self.api)
            return functools.partial(custom.list_cluster_custom_object, *GATEWAY_API)
        if kind == "ingresses":
            return client.NetworkingV1Api(self.api).list_ingress_for_all_namespaces
        core = client.CoreV1Api(self.api)
        if kind == "services":
            return core.list_service_for_all_namespaces
        return core.list_endpoints_for_all_namespaces

    def _watch(self, kind: str) -> None:
        lister = self._lister(kind)
        version = ""
        while not self._stopped.is_set():
            try:
                if not version:
                    version = _version(lister())
                    self._dirty.set()
                stream = watch.Watch()  # type: ignore[no-untyped-call]
                for event in stream.stream(  # type: ignore[no-untyped-call]
                    lister,
                    resource_version=version,
                    timeout_seconds=WATCH_SECONDS,
                    _request_timeout=WATCH_SECONDS + 10,
                ):
                    if event["type"] == "ERROR":
                        version = ""
                        break
                    version = _version(event["object"]) or version
                    self._dirty.set()
                    if self._stopped.is_set():
                        stream.stop()  # type: ignore[no-untyped-call]
            except client.ApiException as exc:
                if self._stopped.is_set():
                    return
                version = ""
                if exc.status == 404:  # the Gateway API's CRDs are not installed (yet)
                    self._stopped.wait(NOT_SERVED_AGAIN)
                    continue
                log.info("ingress controller: watch of %s failed (%s); relisting", kind, exc)
                self._stopped.wait(0.2)
            except Exception as exc:  # the API went away for a moment
                if self._stopped.is_set():
                    return
                log.info("ingress controller: watch of %s failed (%s); relisting", kind, exc)
                version = ""
                self._stopped.wait(0.2)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            if not self._dirty.wait(0.5):
                continue
            self._stopped.wait(SETTLE)
            self._dirty.clear()
            if self._stopped.is_set():
                return
            try:
                self._apply(self._render())
            except Exception:
                log.exception("ingress controller: could not render the configuration")
                self._dirty.set()
                self._stopped.wait(0.5)

    # ------------------------------------------------------------------ configuration

    def _render(self, empty: bool = False) -> str:
        """The configuration for the API's objects now (``empty``: for none)."""
        ingresses: list[dict[str, Any]] = []
        http_routes: list[dict[str, Any]] = []
        services: dict[tuple[str, str], dict[str, Any]] = {}
        endpoints: dict[tuple[str, str], dict[str, Any]] = {}
        if not empty:
            ingresses = [_plain(self.api, i) for i in self._lister("ingresses")().items]
            try:
                http_routes = list(self._lister("httproutes")().get("items") or [])
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
                http_routes = []  # the Gateway API's CRDs are not installed
            for item in self._lister("services")().items:
                plain = _plain(self.api, item)
                services[(item.metadata.namespace, item.metadata.name)] = plain
            for item in self._lister("endpoints")().items:
                plain = _plain(self.api, item)
                endpoints[(item.metadata.namespace, item.metadata.name)] = plain
            if self.on_endpoints is not None:
                self.on_endpoints(list(endpoints.values()))
        table = routes.table(ingresses, self.ingress_class)
        problems = list(table.problems)
        found_rules = httproutes.rules(http_routes, problems)
        upstreams = {}
        found_routes = []
        for route in table.routes:
            upstreams[route.backend] = addresses(route.backend, services, endpoints)
            if route.canary is not None:
                upstreams[route.canary.backend] = addresses(
                    route.canary.backend, services, endpoints
                )
                if not upstreams[route.canary.backend]:  # as ingress-nginx: no alternative
                    route = dataclasses.replace(route, canary=None)  # balancer, the main one
            found_routes.append(route)
        for rule in found_rules:
            wanted = [b for b, _ in rule.backends] + ([rule.mirror] if rule.mirror else [])
            for backend in wanted:
                upstreams[backend] = addresses(backend, services, endpoints)
        self.problems = problems
        self._parts = (found_routes, found_rules, upstreams)
        return self._text_of(found_routes, found_rules, upstreams, problems)

    def _text_of(
        self,
        found_routes: list[routes.Route],
        found_rules: list[httproutes.Rule],
        upstreams: Mapping[routes.Backend, list[str]],
        problems: list[str] | None = None,
    ) -> str:
        return conf.render(
            found_routes,
            upstreams,
            listen=f"127.0.0.1:{self.port}",
            unavailable=f"127.0.0.1:{self._unavailable}",
            prefix=self.prefix,
            user=_user(),
            rules=found_rules,
            problems=problems,
        )

    def _without_refused(self) -> str | None:
        """After nginx refused a configuration: the configuration without the Ingresses and
        HTTPRoutes nginx refuses on their own (each said in :attr:`problems`), so one bad
        object never stops every other from being routed; None if nothing is left to drop."""
        found_routes, found_rules, upstreams = self._parts
        bad: set[str] = set()
        kept = []
        for route in found_routes:
            if self._accepts(self._text_of([route], [], upstreams)):
                kept.append(route)
                continue
            alone = dataclasses.replace(route, canary=None)
            if route.canary is not None and self._accepts(self._text_of([alone], [], upstreams)):
                bad.add(route.canary.ingress)  # the canary's annotations: the main one stays
                kept.append(alone)
            else:
                bad.add(route.ingress)
        for name in sorted({rule.route for rule in found_rules}):
            mine = [rule for rule in found_rules if rule.route == name]
            if not self._accepts(self._text_of([], mine, upstreams)):
                bad.add(name)
        if not bad:
            return None
        self.problems = [
            *self.problems,
            *(f"{name}: nginx refuses it; left out" for name in sorted(bad)),
        ]
        return self._text_of(
            [r for r in kept if r.ingress not in bad],
            [r for r in found_rules if r.route not in bad],
            upstreams,
        )

    def _accepts(self, text: str) -> bool:
        return self._refusal(text, self.prefix / "nginx.conf.alone") is None

    def _refusal(self, text: str, candidate: Path) -> str | None:
        """Write ``text`` to ``candidate`` and ask ``nginx -t``: None if it accepts it, else
        what it said."""
        candidate.write_text(text)
        checked = subprocess.run(
            [self.nginx, "-t", "-q", *self._args(candidate)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return None if checked.returncode == 0 else checked.stderr.strip()

    def _args(self, config: Path | None = None) -> list[str]:
        return [
            "-p",
            str(self.prefix),
            "-e",
            str(self.prefix / "error.log"),
            "-c",
            str(config or self.prefix / "nginx.conf"),
        ]

    def _check_and_place(self, text: str) -> bool:
        candidate = self.prefix / "nginx.conf.new"
        refusal = self._refusal(text, candidate)
        if refusal is not None:
            self.problems = [*self.problems, f"nginx -t: {refusal}"]
            log.warning("ingress controller: nginx refused a configuration: %s", refusal)
            return False
        os.replace(candidate, self.prefix / "nginx.conf")
        return True

    def _apply(self, text: str) -> None:
        if text == self._text or self._process is None:
            return
        if not self._check_and_place(text):
            rest = self._without_refused()
            if rest is None or rest == self._text or not self._check_and_place(rest):
                return
            text = rest
        number = self.reloads + 1
        (self.prefix / conf.GENERATION).write_text(conf.generation(number))
        self._process.send_signal(signal.SIGHUP)
        self._text = text
        if not self._serving(number):
            log.error("ingress controller: nginx did not load configuration %d", number)
            return
        with self._loaded:
            self.reloads = number
            self._loaded.notify_all()

    def _serving(self, number: int, timeout: float = 10.0) -> bool:
        """Whether nginx serves configuration ``number`` (its new workers answer with it)."""
        url = f"http://127.0.0.1:{self._unavailable}/_ferry/generation"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stopped.is_set():
            if self._process is None or self._process.poll() is not None:
                return False  # the master is gone
            try:
                with _OPENER.open(url, timeout=1) as answer:
                    if answer.read().decode() == str(number):
                        return True
            except OSError:
                pass
            time.sleep(0.005)
        return False


def addresses(
    backend: routes.Backend,
    services: Mapping[tuple[str, str], Mapping[str, Any]],
    endpoints: Mapping[tuple[str, str], Mapping[str, Any]],
) -> list[str]:
    """``ip:port`` of the ready addresses behind a Service port (by number or name)."""
    service = services.get((backend.namespace, backend.service))
    if service is None:
        return []
    ports = (service.get("spec") or {}).get("ports") or []
    chosen = next(
        (
            p
            for p in ports
            if (isinstance(backend.port, int) and p.get("port") == backend.port)
            or (isinstance(backend.port, str) and p.get("name") == backend.port)
        ),
        None,
    )
    if chosen is None:
        return []
    found = endpoints.get((backend.namespace, backend.service)) or {}
    out = []
    for subset in found.get("subsets") or []:
        numbers = [
            p.get("port")
            for p in subset.get("ports") or []
            if p.get("name") == chosen.get("name")
            or (len(ports) == 1 and len(subset["ports"]) == 1)
        ]
        for address in subset.get("addresses") or []:
            out += [f"{address['ip']}:{number}" for number in numbers if number]
    return sorted(set(out))


def _version(listed: Any) -> str:
    """The resourceVersion of a listing or an object (a typed model or a dict)."""
    if isinstance(listed, dict):
        return str((listed.get("metadata") or {}).get("resourceVersion") or "")
    return str(listed.metadata.resource_version or "")


def _serve_metrics(metrics: AccessLogMetrics) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404)
                return
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def _user() -> str | None:
    """nginx's workers run as ``nobody`` when it starts as root (its group by number)."""
    if os.geteuid() != 0:
        return None
    try:
        group = grp.getgrgid(65534).gr_name
    except KeyError:
        return None
    return f"nobody {group}"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
