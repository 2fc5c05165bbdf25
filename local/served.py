"""A function served by ``ferry serve`` in a process of its own, as its Knative Service runs it.

The local runtime hosts most functions in its own process; a function that works for long
stretches (``load``: a rollout's load, slice after slice) runs apart, so its work neither
competes with the other functions for one interpreter nor dies with a request thread. The
process gets what its Service's Pod would: its ServiceAccount's credentials (a kubeconfig whose
token file is kept fresh, as a projected volume is), a token file for the Broker's audience,
``FERRY_AUDIENCE`` and ``FERRY_SENDERS`` from its manifest, ``REDIS_URL`` and the Broker's URL.
It listens on a free port of 127.0.0.1, its output goes to a log file, and it is started again
if it dies (at most :data:`RESTARTS` times), and ended with the runtime.

This module decides nothing about rollouts and never passes a token on a command line.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from kubernetes import client

import functions
from local.wiring import Wiring

log = logging.getLogger(__name__)

RESTARTS = 5
"""Times in a row a process that died is started again before the runtime gives up on it
(one that ran :data:`STEADY` seconds before it died starts the count again)."""
STEADY = 60.0
BACKOFF = 1.0
"""Seconds before a restart, times the restarts in a row."""
READY_WITHIN = 60.0
"""Seconds a process may take to answer its first request."""


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServedFunction:
    """Function ``name`` in its own process on ``port``, as its Knative Service's identity
    (``wiring``), sending to the Broker at ``broker_url`` (audience ``broker_audience``)."""

    def __init__(
        self,
        name: str,
        *,
        wiring: Wiring,
        base: client.Configuration,
        redis_url: str,
        broker_url: str,
        broker_audience: str,
        work: Path,
        stopping: threading.Event,
        port: int | None = None,
    ) -> None:
        self.name, self.wiring, self.base = name, wiring, base
        self.redis_url, self.broker_url, self.broker_audience = (
            redis_url,
            broker_url,
            broker_audience,
        )
        self.work, self.stopping = work / f"ferry-{name}", stopping
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = self.work / "output.log"
        self.restarts = 0
        self._env: dict[str, str] = {}
        self._started = 0.0
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> ServedFunction:
        """Start the process and its supervision (:meth:`wait_ready` waits for it)."""
        service = f"{functions.SERVICE_PREFIX}{self.name}"
        identity = self.wiring.functions.get(service)
        if identity is None:
            raise RuntimeError(f"{service} is not in knative/services.yaml")
        self.work.mkdir(parents=True, exist_ok=True)
        api_token = self.work / "api-token"
        broker_token = self.work / "broker-token"
        self.wiring.tokens(identity.service_account).keep_file(api_token, self.stopping)
        self.wiring.tokens(identity.service_account, self.broker_audience).keep_file(
            broker_token, self.stopping
        )
        kubeconfig = self.work / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(self._kubeconfig(identity.service_account, api_token)))
        kubeconfig.chmod(0o600)
        self._env = {
            **{k: v for k, v in os.environ.items() if k not in ("KUBERNETES_SERVICE_HOST",)},
            "KUBECONFIG": str(kubeconfig),
            "REDIS_URL": self.redis_url,
            "FERRY_BROKER_URL": self.broker_url,
            "FERRY_BROKER_TOKEN_FILE": str(broker_token),
            "FERRY_AUDIENCE": identity.audience,
            "FERRY_SENDERS": ",".join(identity.senders),
            "POD_NAMESPACE": self.wiring.namespace,
        }
        self._spawn()
        threading.Thread(target=self._supervise, name=f"served-{self.name}", daemon=True).start()
        return self

    def _kubeconfig(self, account: str, token_file: Path) -> dict[str, object]:
        cluster: dict[str, object] = {"server": self.base.host}
        if self.base.ssl_ca_cert:
            cluster["certificate-authority"] = self.base.ssl_ca_cert
        elif self.base.host.startswith("https:") and not self.base.verify_ssl:
            cluster["insecure-skip-tls-verify"] = True
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": cluster}],
            "users": [{"name": account, "user": {"tokenFile": str(token_file)}}],
            "contexts": [
                {
                    "name": account,
                    "context": {
                        "cluster": "local",
                        "user": account,
                        "namespace": self.wiring.namespace,
                    },
                }
            ],
            "current-context": account,
        }

    def _spawn(self) -> None:
        if self.stopping.is_set():
            return
        command = [
            sys.executable,
            "-m",
            "cli.ferry.main",
            "serve",
            self.name,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self._lock, self.log_path.open("ab") as out:
            self._started = time.monotonic()
            self._proc = subprocess.Popen(
                command,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[1],
                start_new_session=True,
            )

    def _supervise(self) -> None:
        while not self.stopping.wait(1.0):
            with self._lock:
                proc = self._proc
            if proc is None or proc.poll() is None:
                continue
            if time.monotonic() - self._started >= STEADY:
                self.restarts = 0  # it ran well for a while: a new series
            if self.restarts >= RESTARTS:
                log.error(
                    "ferry-%s exited %s %d times; not started again (see %s)",
                    self.name,
                    proc.returncode,
                    self.restarts + 1,
                    self.log_path,
                )
                return
            self.restarts += 1
            if self.stopping.wait(BACKOFF * self.restarts):
                return
            log.warning(
                "ferry-%s exited %s; starting it again (%d/%d)",
                self.name,
                proc.returncode,
                self.restarts,
                RESTARTS,
            )
            self._spawn()

    def wait_ready(self, timeout: float = READY_WITHIN) -> None:
        """Wait until the process answers HTTP; RuntimeError with its last output if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url, timeout=2).close()
                return
            except urllib.error.HTTPError:
                return  # it answers (a GET of its POST-only route)
            except OSError:
                pass
            with self._lock:
                proc = self._proc
            if proc is not None and proc.poll() is not None and self.restarts >= RESTARTS:
                break
            time.sleep(0.1)
        raise RuntimeError(
            f"ferry-{self.name} did not start on {self.url} within {timeout:g}s; its output "
            f"({self.log_path}) ends with:\n{self.tail()}"
        )

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no output)"

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._proc.pid if self._proc is not None else None

    def stop(self) -> None:
        """End the process (SIGTERM, then SIGKILL after 10 s)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
