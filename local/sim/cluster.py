"""The assembled simulator: store, admission, controllers and the HTTP server, started as one.

:class:`Simulator` is what tests, the local runtime and ``ferry sim`` start. It serves on a free
loopback port in a background thread, writes a kubeconfig that the official client and
``kubectl`` use unmodified, and stops cleanly (open watch streams end).
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from local.sim import controllers as ctl
from local.sim.admission import Admission
from local.sim.clock import Clock
from local.sim.events import DELETED, Event
from local.sim.resources import Registry
from local.sim.server import Api
from local.sim.store import Store


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked watch streams

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logging.getLogger("local.sim.http").debug("%s %s", self.requestline, code)


class Simulator:
    """A Kubernetes API on ``http://127.0.0.1:<port>``, with simulated controllers."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        settings: ctl.Settings | None = None,
        history: int = 10_000,
        controllers: bool = True,
    ) -> None:
        self.registry = Registry()
        self.store = Store(self.registry, clock=clock, history=history, admission=Admission())
        self.store.on_commit(self._follow_crds)
        self.settings = settings or ctl.Settings()
        self.api = Api(self.store)
        self.manager = ctl.Manager(
            self.store,
            ctl.default_controllers(self.store, self.settings) if controllers else [],
            self.settings,
        )
        self._host, self._port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _follow_crds(self, event: Event) -> None:
        if event.key != ("apiextensions.k8s.io", "customresourcedefinitions"):
            return
        if event.type == DELETED:
            name = event.obj["metadata"]["name"]
            for rt in self.registry.all():
                if rt.crd == name:
                    self.store.purge(rt)
                    break
            self.registry.remove_crd(name)
        else:
            self.registry.set_crd(event.obj)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self._host}:{self._server.server_port}"

    def start(self) -> Simulator:
        self._server = make_server(
            self._host, self._port, self.api.app(), threaded=True, request_handler=_Handler
        )
        self._server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how soon stop() is noticed
            name="ferry-sim-http",
            daemon=True,
        )
        self._thread.start()
        self.manager.start()
        return self

    def stop(self) -> None:
        self.api.stop()
        self.manager.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ clients

    def kubeconfig(self, namespace: str = "default") -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "ferry-sim", "cluster": {"server": self.url}}],
            "users": [{"name": "ferry-sim", "user": {}}],
            "contexts": [
                {
                    "name": "ferry-sim",
                    "context": {
                        "cluster": "ferry-sim",
                        "user": "ferry-sim",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": "ferry-sim",
            "preferences": {},
        }

    def write_kubeconfig(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write a kubeconfig for this simulator (to a temporary file when no path is given)."""
        if path is None:
            fd, name = tempfile.mkstemp(prefix="ferry-sim-", suffix=".kubeconfig")
            os.close(fd)
            path = name
        target = Path(path)
        target.write_text(yaml.safe_dump(self.kubeconfig(), sort_keys=False))
        return target

    def api_client(self) -> Any:
        """An official ``kubernetes.client.ApiClient`` bound to this simulator."""
        from kubernetes import client

        config = client.Configuration()
        config.host = self.url
        config.connection_pool_maxsize = 32  # functions share one client across threads
        return client.ApiClient(config)
