"""A real Prometheus for the local data plane: it scrapes the ingress and the live Pods.

The ``prometheus`` binary (Debian package ``prometheus``) on a free port of 127.0.0.1, scraping
every second (the data plane compresses time as the simulator does): job ``ingress-nginx``
scrapes the ingress controller's metrics (ingress-nginx's names), job ``kubernetes-pods`` the
live Pods, found through a file of targets written from the Endpoints (:meth:`targets`; every
address of a live Pod — ``127.a.b.c`` — on each of its Endpoints ports, labelled ``namespace``,
``service``, ``pod``), as Prometheus' Kubernetes discovery would find them. Its data lives in a
temporary directory that goes with :meth:`PrometheusServer.stop`. Writes nothing to the API.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import requests

SCRAPE_EVERY = "1s"


class PrometheusMissing(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def targets(endpoints: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """File-discovery target groups for the live Pods behind ``endpoints``."""
    groups: dict[tuple[str, str, str], set[str]] = {}
    for item in endpoints:
        meta = item.get("metadata") or {}
        namespace, service = str(meta.get("namespace", "")), str(meta.get("name", ""))
        for subset in item.get("subsets") or []:
            ports = [p.get("port") for p in subset.get("ports") or [] if p.get("port")]
            addresses = (subset.get("addresses") or []) + (subset.get("notReadyAddresses") or [])
            for address in addresses:
                ip = str(address.get("ip", ""))
                if not ip.startswith("127."):
                    continue  # a pretend Pod: nothing answers there
                pod = str((address.get("targetRef") or {}).get("name", ""))
                for port in ports:
                    groups.setdefault((namespace, service, pod), set()).add(f"{ip}:{port}")
    return [
        {"targets": sorted(found), "labels": {"namespace": ns, "service": svc, "pod": pod}}
        for (ns, svc, pod), found in sorted(groups.items())
    ]


class PrometheusServer:
    """:meth:`start`, :meth:`stop`; :attr:`url` is its HTTP API."""

    def __init__(self, ingress_metrics: str, binary: str = "prometheus") -> None:
        """``ingress_metrics``: ``host:port`` of the ingress controller's ``/metrics``."""
        found = shutil.which(binary) or (
            "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
        )
        if found is None:
            raise PrometheusMissing(
                "prometheus is not installed: the local data plane needs it (Debian: apt-get "
                "install prometheus); or start without the data plane (ferry up --no-data-plane)"
            )
        self.binary = found
        self.ingress_metrics = ingress_metrics
        self.workdir = Path(tempfile.mkdtemp(prefix="ferry-prometheus-"))
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._written = ""
        self._process_code: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def targets_file(self) -> Path:
        return self.workdir / "pods.json"

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        self.targets([])
        config = self.workdir / "prometheus.yml"
        config.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": SCRAPE_EVERY, "evaluation_interval": "1s"},
                    "scrape_configs": [
                        {
                            "job_name": "ingress-nginx",
                            "static_configs": [{"targets": [self.ingress_metrics]}],
                        },
                        {
                            "job_name": "kubernetes-pods",
                            "file_sd_configs": [
                                {"files": [str(self.targets_file)], "refresh_interval": "1s"}
                            ],
                        },
                    ],
                },
                indent=2,
            )
        )
        self.port = _free_port()
        log = (self.workdir / "prometheus.log").open("wb")
        self._process = subprocess.Popen(  # a fixed argv, never a shell
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1d",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                output = (self.workdir / "prometheus.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"prometheus exited with {self._process_code}:\n{output}")
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prometheus was not ready within {timeout:.0f}s")
            time.sleep(0.1)

    def targets(self, endpoints: Iterable[Mapping[str, Any]]) -> None:
        """Write the live Pods' targets (atomically, and only when they changed)."""
        text = json.dumps(targets(endpoints), indent=1)
        if text == self._written:
            return
        temporary = self.targets_file.with_suffix(".tmp")
        temporary.write_text(text)
        os.replace(temporary, self.targets_file)
        self._written = text

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process_code = self._process.returncode
            self._process = None
        shutil.rmtree(self.workdir, ignore_errors=True)
