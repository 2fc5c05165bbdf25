"""Live containers: real processes the simulated kubelet runs for the images it is told about.

The simulator's Pods are pretend by default. Given a :data:`Runner` (``Settings.live``), the
kubelet runs each container whose image the runner knows as a real process on this machine,
listening on the Pod's own loopback address (``127.a.b.c``: Linux routes all of 127.0.0.0/8 to
the loopback interface) and its declared container ports, so the Endpoints of a Service list
addresses that answer, exactly ``podIP:containerPort`` as on a cluster.

This module starts those processes with the environment and the mounted ConfigMap and Secret
directories the kubelet resolved (:class:`Launch`), probes their readiness as a kubelet does
(``readinessProbe.httpGet`` or ``tcpSocket``, ``failureThreshold`` consecutive failures to turn
unready; without a probe: ready once the first port accepts a connection), restarts one that
exits (after a back-off), and ends a Pod's processes when the Pod goes: SIGTERM after a drain
delay (the Pod leaves its Endpoints at once, so a proxy stops sending before the process stops
answering), SIGKILL if it lingers. Probe periods are compressed to :data:`PROBE_EVERY`, as the
simulator compresses every delay. One thread does all of it.

It never touches the store: the kubelet reads :meth:`LiveContainers.state` and writes the status.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

log = logging.getLogger(__name__)
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy: loopback

HOST_ONLY = ("LD_", "PYTHON")
"""Prefixes of environment variables a Pod may not set for its process on this host."""
PROBE_EVERY = 0.1
"""Real seconds between two probes of a container (a kubelet's ``periodSeconds``, compressed)."""
STOP_GRACE = 5.0
"""Real seconds a process has between SIGTERM and SIGKILL."""
MAX_BACKOFF_STEPS = 4
"""A container that keeps exiting waits ``restart_delay * 2**n`` before its next start, with n
at most this."""


@dataclass(frozen=True)
class Launch:
    """One container to run, as the kubelet resolved it from its Pod."""

    namespace: str
    pod: str
    uid: str
    container: str
    image: str
    ip: str
    """The Pod's address (``status.podIP``), on the loopback interface."""
    ports: tuple[int, ...]
    """The container's declared TCP ports."""
    env: Mapping[str, str]
    """The container's environment (``env`` and ``envFrom`` resolved)."""
    mounts: tuple[Path, ...]
    """Directories holding the files of the ConfigMap (and ``emptyDir``) volumes it mounts."""
    secret_mounts: tuple[Path, ...] = ()
    """Directories holding the files of the volumes with Secret data it mounts."""
    readiness: Mapping[str, Any] | None = None
    """The container's ``readinessProbe``."""
    named_ports: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    """What to execute for a :class:`Launch`: ``argv``, with ``env`` added to the Pod's."""

    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[int, ...] = ()
    """The TCP ports it will listen on (the first one tells it is up when the container has
    no readiness probe)."""


class Runner(Protocol):
    """Which images run live, and how."""

    def runs(self, image: str) -> bool:
        """Whether a container of ``image`` runs as a live process (else it stays pretend)."""
        ...

    def command(self, launch: Launch) -> Command:
        """What to execute for ``launch`` (an image :meth:`runs` accepted)."""
        ...


@dataclass(frozen=True)
class ContainerState:
    """A live container as the kubelet reports it (times on the simulator's clock)."""

    running_since: float | None
    """When its current process started; None while it waits to be (re)started."""
    ready: bool
    since: float
    """When it last turned ready or unready."""
    restarts: int
    last_exit: tuple[int, float, float] | None
    """(exit code, started, finished) of its previous process."""


@dataclass
class _Container:
    launch: Launch
    command: Command
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None
    running_since: float | None = None
    start_at: float = 0.0  # monotonic: when to (re)start while there is no process
    ready: bool = False
    since: float = 0.0
    failures: int = 0
    restarts: int = 0
    last_exit: tuple[int, float, float] | None = None


@dataclass
class _Stopping:
    uid: str
    process: subprocess.Popen[bytes] | None
    log_file: IO[bytes] | None
    term_at: float  # monotonic
    kill_at: float
    termed: bool = False


class LiveContainers:
    """The live processes of one simulator's Pods."""

    def __init__(
        self,
        runner: Runner,
        *,
        clock: Callable[[], float],
        notify: Callable[[str, str], None],
        restart_delay: float = 1.0,
        drain: float = 1.0,
    ) -> None:
        """``clock``: the simulator's (status times); ``notify(namespace, pod)``: called from
        this module's thread whenever a Pod's containers change (started, exited, turned ready
        or unready)."""
        self.runner = runner
        self._clock = clock
        self._notify = notify
        self._restart_delay = max(restart_delay, 0.05)
        self._drain = drain
        self.root = Path(tempfile.mkdtemp(prefix="ferry-sim-pods-"))
        """Each Pod's volumes and its containers' logs: ``<root>/<uid>/``."""
        self._lock = threading.Lock()
        self._pods: dict[str, dict[str, _Container]] = {}  # uid -> container name -> state
        self._stopping: list[_Stopping] = []
        self._ips: set[str] = set()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="live-containers", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the kubelet's side

    def address(self, ports: Sequence[int]) -> str:
        """A loopback address no other Pod of this machine uses on ``ports``: random in
        127.64.0.0-127.253.255.255 (checked by binding it), so simulators side by side do not
        collide."""
        for _ in range(1000):
            ip = f"127.{random.randint(64, 253)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
            if ip in self._ips:
                continue
            if all(_free(ip, port) for port in ports or (0,)):
                self._ips.add(ip)
                return ip
        raise OSError("no free loopback address for a live Pod")

    def pod_dir(self, uid: str) -> Path:
        """The Pod's own directory (volumes, logs); made on first use."""
        path = self.root / uid
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start(self, launch: Launch) -> None:
        """Run ``launch`` (once: a container already known is left as it is)."""
        with self._lock:
            if self._closed.is_set():
                return
            containers = self._pods.setdefault(launch.uid, {})
            if launch.container in containers:
                return
            log_path = self.pod_dir(launch.uid) / f"{launch.container}.log"
            command = self.runner.command(launch)
            entry = _Container(launch, command, log_path, since=self._clock())
            containers[launch.container] = entry
            self._spawn(entry)

    def known(self, uid: str) -> bool:
        with self._lock:
            return uid in self._pods

    def state(self, uid: str) -> dict[str, ContainerState]:
        """The Pod's live containers by name (none when it runs none)."""
        with self._lock:
            return {
                name: ContainerState(c.running_since, c.ready, c.since, c.restarts, c.last_exit)
                for name, c in self._pods.get(uid, {}).items()
            }

    def stop(self, uid: str) -> None:
        """End the Pod's processes: SIGTERM after the drain delay (they keep their files and
        answer meanwhile), SIGKILL later; the Pod's directory goes with the last of them (at
        once for a Pod that never started: the Secrets it was waiting with)."""
        with self._lock:
            containers = self._pods.pop(uid, {})
            term = time.monotonic() + self._drain
            items = [
                _Stopping(uid, e.process, e.log_file, term, term + STOP_GRACE)
                for e in containers.values()
            ]
            for entry in containers.values():
                self._ips.discard(entry.launch.ip)
            self._stopping.extend(items)
        if not any(item.process is not None for item in items):
            for item in items:
                if item.log_file is not None:
                    item.log_file.close()
            with self._lock:
                self._stopping = [i for i in self._stopping if i.uid != uid]
            shutil.rmtree(self.root / uid, ignore_errors=True)

    def close(self) -> None:
        """End every process now (SIGTERM, then SIGKILL after :data:`STOP_GRACE`) and remove
        the Pods' files."""
        self._closed.set()
        self._thread.join(timeout=2)
        with self._lock:
            ending = [
                (e.process, e.log_file)
                for containers in self._pods.values()
                for e in containers.values()
            ]
            ending += [(s.process, s.log_file) for s in self._stopping]
            self._pods.clear()
            self._stopping.clear()
        for process, _ in ending:
            if process is not None:
                _signal(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for process, log_file in ending:
            if process is not None:
                try:
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _signal(process, signal.SIGKILL)
                    process.wait()
            if log_file is not None:
                log_file.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ the loop

    def _spawn(self, entry: _Container) -> None:
        """Start ``entry``'s process (under the lock)."""
        launch, command = entry.launch, entry.command
        # The Pod's env, but never what would change how this host runs the command (a Pod
        # could otherwise load its own code: PYTHONPATH to a mounted ConfigMap, LD_PRELOAD)
        env = {
            key: value
            for key, value in launch.env.items()
            if not key.startswith(HOST_ONLY) and key not in ("PATH", "IFS")
        }
        env.update({k: v for k in ("PATH", "LANG", "TZ") if (v := os.environ.get(k)) is not None})
        env.update(command.env)
        if entry.log_file is None:
            entry.log_file = entry.log_path.open("ab")
        workdir = self.pod_dir(launch.uid) / "cwd"  # nothing of the Pod's lands there
        workdir.mkdir(exist_ok=True)
        try:
            entry.process = subprocess.Popen(  # argv from the runner, never a shell
                list(command.argv),
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=entry.log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the simulator's terminal is not theirs
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:  # a NUL in the env...
            entry.log_file.write(f"cannot start {command.argv[0]}: {exc}\n".encode())
            entry.process = None
            entry.last_exit = (128, self._clock(), self._clock())
            entry.start_at = time.monotonic() + self._backoff(entry)
            return
        entry.running_since = self._clock()
        entry.ready, entry.failures = False, 0

    def _backoff(self, entry: _Container) -> float:
        return float(self._restart_delay * 2 ** min(entry.restarts, MAX_BACKOFF_STEPS))

    def _loop(self) -> None:
        while not self._closed.wait(PROBE_EVERY):
            try:
                self._round()
            except Exception:  # the loop outlives any one container's trouble
                log.exception("live containers: a round failed")

    def _round(self) -> None:
        with self._lock:
            entries = [e for containers in self._pods.values() for e in containers.values()]
        changed: set[tuple[str, str]] = set()
        try:
            for entry in entries:
                if self._closed.is_set():
                    return
                try:
                    if self._step(entry):
                        changed.add((entry.launch.namespace, entry.launch.pod))
                except Exception:  # one container's trouble is not the others'
                    log.exception(
                        "live containers: %s/%s", entry.launch.pod, entry.launch.container
                    )
        finally:
            self._reap()
        for namespace, pod in sorted(changed):
            self._notify(namespace, pod)

    def _step(self, entry: _Container) -> bool:
        """Restart, reap or probe one container; whether its state changed."""
        with self._lock:
            if entry.launch.container not in self._pods.get(entry.launch.uid, {}):
                return False  # stopped meanwhile
            process = entry.process
            if process is None:
                if time.monotonic() < entry.start_at:
                    return False
                entry.restarts += 1
                self._spawn(entry)
                return True
            code = process.poll()
            if code is not None:
                now = self._clock()
                # a signal n is reported as 128 + n, as by a container runtime
                entry.last_exit = (
                    code if code >= 0 else 128 - code,
                    entry.running_since or now,
                    now,
                )
                entry.process, entry.running_since = None, None
                entry.ready, entry.since = False, now
                entry.start_at = time.monotonic() + self._backoff(entry)
                return True
        ok = _probe(
            entry.launch, entry.command.ports
        )  # outside the lock: it may take up to a second
        with self._lock:
            if entry.process is not process:
                return False
            if ok:
                entry.failures = 0
                if not entry.ready:
                    entry.ready, entry.since = True, self._clock()
                    return True
                return False
            entry.failures += 1
            threshold = _number((entry.launch.readiness or {}).get("failureThreshold"), 3)
            if entry.ready and entry.failures >= max(threshold, 1):
                entry.ready, entry.since = False, self._clock()
                return True
            return False

    def _reap(self) -> None:
        now = time.monotonic()
        with self._lock:
            stopping = list(self._stopping)
        done = []
        for item in stopping:
            if item.process is None or item.process.poll() is not None:
                done.append(item)
            elif now >= item.kill_at:
                _signal(item.process, signal.SIGKILL)
            elif now >= item.term_at and not item.termed:
                item.termed = True
                _signal(item.process, signal.SIGTERM)
        with self._lock:
            for item in done:
                self._stopping.remove(item)
                if item.log_file is not None:
                    item.log_file.close()
            gone = {i.uid for i in done} - {i.uid for i in self._stopping}
        for uid in gone:  # the last of the Pod's processes ended
            shutil.rmtree(self.root / uid, ignore_errors=True)


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    """``signum`` to the process's group (its own session: what it started goes too)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _number(value: Any, default: int) -> int:
    try:
        return max(int(value), 1) if value is not None else default
    except (TypeError, ValueError):
        return default


def _free(ip: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True


def _port(launch: Launch, value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value) if value.isdigit() else launch.named_ports.get(value)
    return None


def _probe(launch: Launch, listening: tuple[int, ...]) -> bool:
    """One readiness probe of a running container (``listening``: the ports its command
    listens on)."""
    probe = launch.readiness or {}
    timeout = min(float(_number(probe.get("timeoutSeconds"), 1)), 1.0)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        port = _port(launch, http.get("port"))
        if port is None:
            return False
        path = str(http.get("path") or "/")
        request = urllib.request.Request(f"http://{launch.ip}:{port}/{path.lstrip('/')}")
        for header in http.get("httpHeaders") or []:
            if isinstance(header, dict) and header.get("name"):
                request.add_header(str(header["name"]), str(header.get("value", "")))
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                return 200 <= int(response.status) < 400
        except urllib.error.HTTPError as exc:
            return 200 <= exc.code < 400
        except (OSError, ValueError):
            return False
    tcp = probe.get("tcpSocket")
    if isinstance(tcp, dict):
        port = _port(launch, tcp.get("port"))
        if port is None:
            return False  # a port it does not declare: never ready, as httpGet
    else:  # exec, grpc or no probe: ready once it listens
        port = (listening or launch.ports or (None,))[0]
    if port is None:
        return True
    try:
        with socket.create_connection((launch.ip, port), timeout=timeout):
            return True
    except OSError:
        return False
