"""Fixtures for provider tests: a real Prometheus scraping a metrics endpoint the tests control.

``metrics`` is a small HTTP server on a loopback port that serves the Prometheus text format of
whatever series the tests set; ``prometheus`` is the real ``prometheus`` binary (Debian package
``prometheus``) scraping it every second, started once per session and stopped at the end.
Tests give their series a label of their own (``case=...``) so they do not see each other's.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 15.0, every: float = 0.1) -> T:
    """Call ``probe`` until it returns something truthy, and return that; fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"condition not met within {timeout}s (last probe: {last!r})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Metrics:
    """The series the endpoint exposes: ``(name, labels) -> value``, set by tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.address = ""
        """``host:port`` of the endpoint serving these series."""

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._series[(name, tuple(sorted(labels.items())))] = value

    def add(self, name: str, amount: float, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._series[key] = self._series.get(key, 0.0) + amount

    def render(self) -> str:
        with self._lock:
            series = sorted(self._series.items())
        lines: list[str] = []
        typed: set[str] = set()
        for (name, labels), value in series:
            if name not in typed:
                kind = "counter" if name.endswith("_total") else "gauge"
                lines.append(f"# TYPE {name} {kind}")
                typed.add(name)
            text = ",".join(f'{key}="{val}"' for key, val in labels)
            lines.append(f"{name}{{{text}}} {value!r}")
        return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def metrics() -> Iterator[Metrics]:
    """A running metrics endpoint at ``metrics.address`` (``host:port``)."""
    exposed = Metrics()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/metrics":
                self.send_error(404)
                return
            body = exposed.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="metrics", daemon=True
    )
    thread.start()
    exposed.address = f"127.0.0.1:{server.server_address[1]}"
    try:
        yield exposed
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass(frozen=True)
class Prometheus:
    url: str
    started_in: float
    """Seconds from launch until the first scrape was queryable."""

    def query(self, query: str) -> list[dict[str, Any]]:
        """The raw ``data.result`` of an instant query (for waiting, not for asserting)."""
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=5)
        answer.raise_for_status()
        result: list[dict[str, Any]] = answer.json()["data"]["result"]
        return result


@contextlib.contextmanager
def running(workdir: Path, scrape_configs: str, ready_query: str) -> Iterator[Prometheus]:
    """The real ``prometheus`` binary scraping every second as ``scrape_configs`` (YAML under
    ``scrape_configs:``) says, until ``ready_query`` has a result; stopped on exit."""
    binary = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if binary is None:
        pytest.fail("the prometheus binary is missing: install the Debian package prometheus")
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n" + scrape_configs
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "prometheus.log").open("wb")
    started = time.monotonic()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def ready() -> bool:
        if process.poll() is not None:
            output = (workdir / "prometheus.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"prometheus exited with {process.returncode}:\n{output}")
        try:
            return requests.get(f"{url}/-/ready", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        eventually(ready, timeout=30)
        server = Prometheus(url=url, started_in=0.0)
        eventually(lambda: bool(server.query(ready_query)), timeout=30)
        yield Prometheus(url=url, started_in=time.monotonic() - started)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def prometheus(metrics: Metrics, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """A real Prometheus scraping ``metrics`` every second, ready and with one scrape done."""
    scrape = f"  - job_name: app\n    static_configs:\n      - targets: ['{metrics.address}']\n"
    with running(tmp_path_factory.mktemp("prometheus"), scrape, 'up{job="app"} == 1') as server:
        yield server
