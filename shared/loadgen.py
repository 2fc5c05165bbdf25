"""An open-loop HTTP load generator: ``rps`` requests a second, each sent at its own time.

Request ``k`` of a run is due ``k / rps`` seconds after the start, whatever happened to the
ones before it (an open model, as users arrive): a slow target does not slow the load down and
hide its own latency (coordinated omission). At most ``concurrency`` requests wait for an
answer; a request due while all of them wait is not sent and is counted as *missed*, as is one
the loop itself could not send within :data:`OVERDUE` of its time (after a stall, at most a
second's worth goes out late), so the achieved rate is honest. Targets and paths are taken in
turn. A run lasts its seconds of sending, then at most the requests' timeout and
:data:`GRACE` more.

A small loop over urllib3 (already Ferry's HTTP client through ``kubernetes``) rather than a
load-testing library: Locust brings gevent's monkey-patching and a UI, k6 and vegeta are Go
binaries, and none of them runs as one bounded slice inside a function that must answer within
its request limit and stop sending within a quarter of a second when told. This module knows
nothing of rollouts: it sends requests and counts answers. It never logs or returns a header's
value (a header may carry a token) and keeps no response body (each is read up to
:data:`DRAIN_BYTES` and dropped).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import urllib3

log = logging.getLogger(__name__)

DRAIN_BYTES = 64 << 10
"""Bytes of an answer read at most (then the connection is dropped rather than reused)."""
CHUNK = 16 << 10
"""Bytes read at a time (the request's deadline is looked at between two reads)."""
CHECK_EVERY = 0.25
"""Seconds between two asks whether to go on."""
OVERDUE = 1.0
"""Seconds late after which a request is counted as missed rather than sent (the loop
stalled): what comes late in a burst is at most this much of the load."""
GRACE = 0.5
"""Seconds past the requests' own timeout a run waits for the last of them."""


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
        :data:`CHECK_EVERY` seconds), then wait for the requests still out, at most their
        ``timeout`` and :data:`GRACE` more: a run never lasts longer than that. A request
        that has not ended by then is counted as a timeout; what it does later is not
        counted."""
        if not targets or shape.rps <= 0:
            raise ValueError("a load needs at least one target and a rate above 0")
        run = _Run(shape)
        paths = shape.paths or ("/",)
        start = time.monotonic()
        end = start + seconds
        next_check = start + CHECK_EVERY
        k = 0
        pool = ThreadPoolExecutor(shape.concurrency, thread_name_prefix="load")
        try:
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
                if now - due > OVERDUE or not run.free.acquire(blocking=False):
                    run.miss()  # all slots wait, or this loop stalled for over a second
                else:
                    target = targets[k % len(targets)]
                    path = paths[(k // len(targets)) % len(paths)]
                    run.sent()
                    pool.submit(self._one, target, path, shape, run)
                k += 1
        finally:
            pool.shutdown(wait=False)  # each request submitted runs; close() waits for them
        sending = min(time.monotonic(), end) - start
        return run.close(time.monotonic() + shape.timeout + GRACE, sending)

    def _one(self, target: Target, path: str, shape: Shape, run: _Run) -> None:
        headers = dict(shape.headers)
        if target.host and not any(k.lower() == "host" for k in headers):
            headers["Host"] = target.host
        began = time.monotonic()
        deadline = began + shape.timeout
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
                code = f"{answer.status // 100}xx"
                read = 0
                while read < DRAIN_BYTES:
                    if time.monotonic() > deadline:
                        code = "timeout"  # a body that trickles: its time is up
                        break
                    chunk = answer.read(CHUNK)
                    if not chunk:
                        break
                    read += len(chunk)
                if read >= DRAIN_BYTES or code == "timeout":
                    answer.close()  # the rest is not read: this connection is not reused
            finally:
                answer.release_conn()
        except urllib3.exceptions.NewConnectionError:
            code = "failed"  # (a ConnectTimeoutError to urllib3, but nothing waited)
        except (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError) as exc:
            code = "timeout" if _timed_out(exc) else "failed"
        except urllib3.exceptions.HTTPError:
            code = "failed"
        except Exception as exc:  # e.g. a header urllib3 cannot encode: said once, by kind
            code = "failed"
            run.unexpected(type(exc).__name__)
        finally:
            run.ended(code, time.monotonic() - began)


class _Run:
    """The bookkeeping of one :meth:`Generator.run`: its free slots and its totals, closed
    at its end (a request that ends later is not counted)."""

    def __init__(self, shape: Shape) -> None:
        self.free = threading.BoundedSemaphore(shape.concurrency)
        self.totals = Totals()
        self._lock = threading.Condition()
        self._out = 0
        self._closed = False
        self._said: set[str] = set()

    def sent(self) -> None:
        with self._lock:
            self.totals.sent += 1
            self._out += 1

    def miss(self) -> None:
        with self._lock:
            self.totals.missed += 1

    def unexpected(self, kind: str) -> None:
        with self._lock:
            if kind in self._said:
                return
            self._said.add(kind)
        log.warning("load: a request could not be sent (%s)", kind)

    def ended(self, code: str, took: float) -> None:
        with self._lock:
            if not self._closed:
                self.totals.codes[code] += 1
                if code in ("5xx", "timeout", "failed"):
                    self.totals.errors += 1
                else:
                    self.totals.ok += 1
                    self.totals.latency += took
                self._out -= 1
                self._lock.notify_all()
        self.free.release()

    def close(self, wait_until: float, seconds: float) -> Totals:
        """Wait until no request is out, or ``wait_until`` (the rest count as timeouts)."""
        with self._lock:
            while self._out > 0 and time.monotonic() < wait_until:
                self._lock.wait(wait_until - time.monotonic())
            self._closed = True
            if self._out > 0:
                self.totals.codes["timeout"] += self._out
                self.totals.errors += self._out
            self.totals.seconds = seconds
            return self.totals


def _timed_out(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, urllib3.exceptions.TimeoutError | TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
