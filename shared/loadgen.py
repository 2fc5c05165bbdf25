"""An open-loop HTTP load generator: ``rps`` requests a second, each sent at its own time.

Request ``k`` of a run is due ``k / rps`` seconds after the start, whatever happened to the
ones before it (an open model, as users arrive): a slow target does not slow the load down and
hide its own latency (coordinated omission). At most ``concurrency`` requests wait for an
answer; a request due while all of them wait is not sent and is counted as *missed*, so the
achieved rate is honest. Targets and paths are taken in turn.

A small loop over urllib3 (already Ferry's HTTP client through ``kubernetes``) rather than a
load-testing library: Locust brings gevent's monkey-patching and a UI, k6 and vegeta are Go
binaries, and none of them runs as one bounded slice inside a function that must answer within
its request limit and stop within a second when told. This module knows nothing of rollouts:
it sends requests and counts answers. It never logs or returns a header's value (a header may
carry a token) and keeps no response body (each is read up to :data:`DRAIN_BYTES` and dropped).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import urllib3

DRAIN_BYTES = 1 << 20
"""Bytes of an answer read at most (then the connection is dropped rather than reused)."""
CHECK_EVERY = 0.25
"""Seconds between two asks whether to go on."""


@dataclass(frozen=True)
class Target:
    """Where requests go: ``base`` (``scheme://host:port``) and, when set, the ``Host`` header
    (a Service's name when its Pods are called by address)."""

    base: str
    host: str = ""


@dataclass(frozen=True)
class Shape:
    """What is sent: the rate, how many may wait at once, and each request's method,
    headers, paths (taken in turn) and time limit in seconds."""

    rps: int
    concurrency: int
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    paths: tuple[str, ...] = ("/",)
    timeout: float = 5.0


@dataclass
class Totals:
    """What one run did. ``errors``: answers 5xx, timeouts and failed connections;
    ``codes``: counts by ``2xx``..``5xx``, ``timeout`` and ``failed``."""

    sent: int = 0
    ok: int = 0
    errors: int = 0
    missed: int = 0
    seconds: float = 0.0
    latency: float = 0.0
    """Seconds the answered requests took, added up."""
    codes: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        """Requests sent a second."""
        return self.sent / self.seconds if self.seconds > 0 else 0.0


class Generator:
    """Sends ``shape`` to ``targets``; one :meth:`run` at a time. ``pool``: the connections,
    shared between runs (so a keep-alive connection outlives a slice)."""

    def __init__(self, pool: urllib3.PoolManager | None = None) -> None:
        self.pool = pool or urllib3.PoolManager(maxsize=16, block=False, retries=False)

    def run(
        self,
        targets: Sequence[Target],
        shape: Shape,
        seconds: float,
        keep_going: Callable[[], bool] = lambda: True,
    ) -> Totals:
        """Send for ``seconds`` (less when ``keep_going`` answers False: it is asked every
        :data:`CHECK_EVERY` seconds) and wait for the requests still out; the totals."""
        if not targets or shape.rps <= 0:
            raise ValueError("a load needs at least one target and a rate above 0")
        totals = Totals()
        lock = threading.Lock()
        free = threading.BoundedSemaphore(shape.concurrency)
        paths = shape.paths or ("/",)
        start = time.monotonic()
        end = start + seconds
        next_check = start + CHECK_EVERY
        k = 0
        with ThreadPoolExecutor(shape.concurrency, thread_name_prefix="load") as pool:
            while True:
                due = start + k / shape.rps
                now = time.monotonic()
                if due >= end:
                    break
                if now >= next_check:
                    next_check = now + CHECK_EVERY
                    if not keep_going():
                        break
                if due > now:
                    time.sleep(min(due, next_check) - now)
                    continue
                if not free.acquire(blocking=False):
                    with lock:
                        totals.missed += 1
                else:
                    target = targets[k % len(targets)]
                    path = paths[(k // len(targets)) % len(paths)]
                    with lock:
                        totals.sent += 1
                    pool.submit(self._one, target, path, shape, totals, lock, free)
                k += 1
        totals.seconds = min(time.monotonic(), end) - start
        return totals

    def _one(
        self,
        target: Target,
        path: str,
        shape: Shape,
        totals: Totals,
        lock: threading.Lock,
        free: threading.BoundedSemaphore,
    ) -> None:
        headers = dict(shape.headers)
        if target.host and not any(k.lower() == "host" for k in headers):
            headers["Host"] = target.host
        began = time.monotonic()
        code = "failed"
        try:
            answer = self.pool.request(
                shape.method,
                target.base + path,
                headers=headers,
                timeout=urllib3.Timeout(total=shape.timeout),
                retries=False,
                redirect=False,
                preload_content=False,
            )
            try:
                if len(answer.read(DRAIN_BYTES)) >= DRAIN_BYTES:
                    answer.close()  # the rest is not read: this connection is not reused
            finally:
                answer.release_conn()
            code = f"{answer.status // 100}xx"
        except urllib3.exceptions.NewConnectionError:
            code = "failed"  # (a ConnectTimeoutError to urllib3, but nothing waited)
        except (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError) as exc:
            code = "timeout" if _timed_out(exc) else "failed"
        except urllib3.exceptions.HTTPError:
            code = "failed"
        finally:
            took = time.monotonic() - began
            with lock:
                totals.codes[code] += 1
                if code in ("5xx", "timeout", "failed"):
                    totals.errors += 1
                else:
                    totals.ok += 1
                    totals.latency += took
            free.release()


def _timed_out(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, urllib3.exceptions.TimeoutError | TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
