"""The demo app's HTTP server: ``python -m local.demoapp --image IMAGE --pod NAME``.

- ``GET /healthz``: liveness, always 200;
- ``GET /readyz``: readiness, 200 (503 for a ``-crash`` image: it never gets ready);
- ``GET /metrics``: Prometheus metrics of the requests served (podinfo's names:
  ``http_requests_total`` and ``http_request_duration_seconds`` by method, path and status);
- any other request: a JSON answer ``{hostname, version, message, config}`` — the Pod's name,
  the version in the image's tag, ``PODINFO_UI_MESSAGE`` (or ``MESSAGE``) from the environment,
  and the files of the directories given with ``--config`` (the Pod's mounted ConfigMaps) —
  with status 500 for the share the tag's ``-errorsN`` asks, ``-slowN`` milliseconds late.

It listens on ``--host`` (127.0.0.1 by default) and every ``--port`` given (the Pod's container
ports; none or ``0``: a free port), prints ``listening on PORT`` for each once it does; SIGTERM
ends it after the requests in flight (a deleted Pod's process ends).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from local.demoapp import behaviour

PROBES = ("/healthz", "/readyz", "/metrics")


class App:
    """What one Pod's process knows and counts."""

    def __init__(self, image: str, pod: str, configs: list[Path], message: str) -> None:
        self.behaviour = behaviour.of(image)
        self.pod, self.configs, self.message = pod, configs, message
        self.registry = CollectorRegistry()
        labels = ("method", "path", "status")
        self.requests = Counter(
            "http_requests_total", "Requests served.", labels, registry=self.registry
        )
        self.durations = Histogram(
            "http_request_duration_seconds",
            "Time to answer a request.",
            labels,
            registry=self.registry,
        )
        self._count = 0
        self._lock = threading.Lock()
        self.in_flight = 0
        """Requests being answered (SIGTERM waits for them, a little)."""

    def next_fails(self) -> bool:
        with self._lock:
            count, self._count = self._count, self._count + 1
        return self.behaviour.fails(count)

    def config(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for directory in self.configs:
            for path in sorted(directory.glob("*")) if directory.is_dir() else ():
                if path.is_file():
                    found[path.name] = path.read_text(errors="replace")[:4096]
        return found

    def answer(self, method: str, path: str) -> tuple[int, bytes, str]:
        """Status, body and content type of a request."""
        if path == "/healthz":
            return 200, b'{"status":"OK"}', "application/json"
        if path == "/readyz":
            ready = not self.behaviour.crash
            return (
                (200 if ready else 503),
                b'{"status":"OK"}' if ready else b"{}",
                "application/json",
            )
        if path == "/metrics":
            return 200, generate_latest(self.registry), CONTENT_TYPE_LATEST
        started = time.monotonic()
        if self.behaviour.delay:
            time.sleep(self.behaviour.delay)
        status = 500 if self.next_fails() else 200
        body = {
            "hostname": self.pod,
            "version": self.behaviour.version,
            "message": self.message,
            "config": self.config(),
        }
        if status == 500:
            body["error"] = "failing as its image's tag asks"
        shown = "/" + path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        labels = (method, shown, str(status))
        self.requests.labels(*labels).inc()
        self.durations.labels(*labels).observe(time.monotonic() - started)
        return status, json.dumps(body).encode(), "application/json"


def serve(app: App, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """The server, listening (not yet serving: call ``serve_forever``)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(min(length, 1 << 20))
            with app._lock:
                app.in_flight += 1
            try:
                status, body, kind = app.answer(self.command, self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Pod", app.pod)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
            finally:
                with app._lock:
                    app.in_flight -= 1

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _reply

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ferry's demo app (one live Pod).")
    parser.add_argument("--image", required=True)
    parser.add_argument("--pod", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, action="append", default=[])
    parser.add_argument("--config", type=Path, action="append", default=[])
    args = parser.parse_args(argv)
    message = os.environ.get("PODINFO_UI_MESSAGE") or os.environ.get("MESSAGE") or ""
    app = App(args.image, args.pod, args.config, message)
    servers = [serve(app, port, args.host) for port in dict.fromkeys(args.port or [0])]
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        for s in servers
    ]
    stopped = threading.Event()

    def stop(*_: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for server, thread in zip(servers, threads, strict=True):
        thread.start()
        print(f"listening on {server.server_address[1]}", flush=True)
    while not stopped.wait(0.2):
        pass
    for server in servers:
        server.shutdown()  # no new connections; the requests in flight may finish
        server.server_close()
    deadline = time.monotonic() + 2.0
    while app.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    return 0


if __name__ == "__main__":
    sys.exit(main())
