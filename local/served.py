"""A function served by ``ferry serve`` in a process of its own, as its Knative Service runs it.

The local runtime hosts most functions in its own process; a function that works for long
stretches (``load``: a rollout's load, slice after slice) runs apart, so its work neither
competes with the other functions for one interpreter nor dies with a request thread. The
process gets what its Service's Pod would: its ServiceAccount's credentials (a kubeconfig whose
token file is kept fresh, as a projected volume is), a token file for the Broker's audience,
``FERRY_AUDIENCE`` and ``FERRY_SENDERS`` from its manifest, ``REDIS_URL`` and the Broker's URL.
It listens on a free port of 127.0.0.1, its output goes to a log file, and it is started again
if it dies (at most :data:`RESTARTS` times), and ended with the runtime.

Given an :class:`Image` (the root filesystem of Ferry's OCI image, as ``umoci unpack`` lays it
out), the process runs inside it as its container would: ``chroot`` into it, the image's user,
its entrypoint and command, its environment and nothing of this process's; the function's
files (kubeconfig, tokens) are then kept inside that root filesystem, owned by that user.

This module decides nothing about rollouts and never passes a token on a command line.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
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


class Image:
    """A root filesystem of Ferry's image and how its container starts: the OCI runtime
    configuration ``umoci unpack`` writes beside it (``config.json``: the image's entrypoint
    and command, environment and user)."""

    def __init__(self, bundle: Path) -> None:
        spec = json.loads((bundle / "config.json").read_text())
        process = spec["process"]
        self.rootfs = bundle / str(spec["root"]["path"])
        self.args: list[str] = [str(a) for a in process["args"]]
        self.env: dict[str, str] = dict(str(e).split("=", 1) for e in process.get("env", []))
        self.uid, self.gid = int(process["user"]["uid"]), int(process["user"]["gid"])
        if self.uid == 0:
            raise ValueError(f"{bundle}: the image runs as root; Ferry's runs as a non-root user")

    def inside(self, path: Path) -> str:
        """``path`` (under :attr:`rootfs`) as the process inside sees it."""
        return "/" + str(path.relative_to(self.rootfs))

    def command(self, argv: list[str]) -> list[str]:
        """The image's entrypoint and command with ``argv`` after them (as a Pod's ``args``
        replace the command and the entrypoint stays), run as the image's user inside it."""
        chroot = shutil.which("chroot")  # this machine's: the process's PATH is the image's
        if chroot is None:
            raise RuntimeError("chroot is missing (Debian: coreutils); it runs the image's Ferry")
        entry = self.args[:1]
        return [chroot, f"--userspec={self.uid}:{self.gid}", str(self.rootfs), *entry, *argv]


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
        image: Image | None = None,
    ) -> None:
        self.name, self.wiring, self.base, self.image = name, wiring, base, image
        self.redis_url, self.broker_url, self.broker_audience = (
            redis_url,
            broker_url,
            broker_audience,
        )
        if image is not None:  # its files where the process inside can read them
            work = image.rootfs / "run" / "ferry"
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
        owner = (self.image.uid, self.image.gid) if self.image else None
        if owner:
            os.chown(self.work, *owner)
        api_token = self.work / "api-token"
        broker_token = self.work / "broker-token"
        self.wiring.tokens(identity.service_account).keep_file(api_token, self.stopping, owner)
        self.wiring.tokens(identity.service_account, self.broker_audience).keep_file(
            broker_token, self.stopping, owner
        )
        kubeconfig = self.work / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(self._kubeconfig(identity.service_account, self._path(api_token)))
        )
        kubeconfig.chmod(0o600)
        if owner:
            os.chown(kubeconfig, *owner)
        # in the image, its environment and nothing of this process's, as in its container
        inherited = self.image.env if self.image else os.environ
        self._env = {
            **{k: v for k, v in inherited.items() if k not in ("KUBERNETES_SERVICE_HOST",)},
            "KUBECONFIG": self._path(kubeconfig),
            "REDIS_URL": self.redis_url,
            "FERRY_BROKER_URL": self.broker_url,
            "FERRY_BROKER_TOKEN_FILE": self._path(broker_token),
            "FERRY_AUDIENCE": identity.audience,
            "FERRY_SENDERS": ",".join(identity.senders),
            "POD_NAMESPACE": self.wiring.namespace,
        }
        self._spawn()
        threading.Thread(target=self._supervise, name=f"served-{self.name}", daemon=True).start()
        return self

    def _path(self, path: Path) -> str:
        """``path`` as the process sees it."""
        return self.image.inside(path) if self.image else str(path)

    def _kubeconfig(self, account: str, token_file: str) -> dict[str, object]:
        cluster: dict[str, object] = {"server": self.base.host}
        if self.base.ssl_ca_cert:
            cluster["certificate-authority"] = self.base.ssl_ca_cert
        elif self.base.host.startswith("https:") and not self.base.verify_ssl:
            cluster["insecure-skip-tls-verify"] = True
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": cluster}],
            "users": [{"name": account, "user": {"tokenFile": token_file}}],
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
        argv = ["serve", self.name, "--host", "127.0.0.1", "--port", str(self.port)]
        if self.image:
            command = self.image.command(argv)
        else:
            command = [sys.executable, "-m", "cli.ferry.main", *argv]
        with self._lock, self.log_path.open("ab") as out:
            self._started = time.monotonic()
            self._proc = subprocess.Popen(
                command,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd="/" if self.image else Path(__file__).resolve().parents[1],
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
