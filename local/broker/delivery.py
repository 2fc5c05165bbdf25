"""Delivery for the local Broker: attempts, retries with backoff, dead letters and records.

A :class:`Dispatcher` delivers each event to each route it is given as Knative's Broker does: an
HTTP POST with a ``Prefer: reply`` header (binary mode, or structured with ``delivery.format:
json``). A 2xx answer carrying a CloudEvent is a reply, handed back to be published into the
same Broker. Failures are retried per the route's ``delivery`` on the codes Knative retries
(5xx, 404, 408, 409, 429, no response) and never on other answers; then the event goes to the
dead letter sink with ``knativeerrordest``, ``knativeerrorcode`` and ``knativeerrordata``, or is
logged and dropped. Every delivery ends in exactly one :class:`DeliveryRecord`.

A fixed pool of worker threads performs single HTTP attempts; a retry is put on a timer heap and
handed back to the pool when due, so a waiting retry never holds a worker (only an attempt in
progress does, for at most its timeout).

This module must not log event data (only type, subject and id: data may hold secrets), must
never retry without bound, and does not route: it delivers to the routes it is handed.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import urllib3
from cloudevents.core.v1.event import CloudEvent

from local.broker.routes import Route
from local.broker.wire import post_event, reply_of, with_extensions
from shared import events

Credentials = Callable[[Route, str], str]
"""The token of a route's Trigger identity for an audience (Knative's sender identity)."""

log = logging.getLogger(__name__)

ERROR_DEST, ERROR_CODE, ERROR_DATA = "knativeerrordest", "knativeerrorcode", "knativeerrordata"
"""Extensions added to a dead-lettered event: where it failed, the HTTP code, the base64 body."""
ERROR_DATA_MAX = 1024
"""Upstream truncates ``knativeerrordata`` (base64) to this many characters."""


class Outcome(StrEnum):
    """How the delivery of one event to one Trigger ended."""

    DELIVERED = "delivered"
    """The subscriber answered 2xx without a reply."""
    REPLIED = "replied"
    """The subscriber answered 2xx with a CloudEvent, published back into the Broker."""
    DEAD_LETTERED = "dead-lettered"
    """Delivery failed; the dead letter sink accepted the event."""
    DROPPED = "dropped"
    """Delivery failed and there was no dead letter sink (or it failed too, or the broker
    stopped)."""


@dataclass(frozen=True)
class DeliveryRecord:
    """One event's delivery to one Trigger's subscriber, from first attempt to outcome."""

    event_id: str
    event_type: str
    subject: str | None
    broker: str
    """``<namespace>/<name>`` of the Broker."""
    trigger: str
    """``<namespace>/<name>`` of the Trigger."""
    subscriber: str
    status: int
    """Last HTTP status from the subscriber; -1 when it never answered; 0 if never tried."""
    attempts: int
    outcome: Outcome
    reply_type: str | None = None
    dead_letter_status: int | None = None
    started: float = 0.0
    finished: float = 0.0
    reason: str = ""


def describe(record: DeliveryRecord) -> str:
    """A one-line timeline entry for ``--verbose`` (no event data)."""
    stamp = datetime.fromtimestamp(record.finished).strftime("%H:%M:%S.%f")[:-3]
    line = (
        f"{stamp} {record.event_type} {record.subject or '-'} id={record.event_id} "
        f"-> {record.trigger} [{record.status}] x{record.attempts} {record.outcome.value}"
    )
    if record.reply_type:
        line += f" => {record.reply_type}"
    if record.dead_letter_status is not None:
        line += f" (dead letter sink answered {record.dead_letter_status})"
    if record.reason:
        line += f": {record.reason}"
    return line


@dataclass
class _Task:
    event: CloudEvent
    route: Route
    started: float
    attempts: int = 0
    status: int = 0
    dead_letter: CloudEvent | None = None
    dead_letter_attempts: int = 0
    dead_letter_status: int | None = None
    reason: str = ""


class Dispatcher:
    """The worker pool and the retry timers of one Broker, with a bounded delivery history.

    ``republish(broker, event)`` publishes a reply into the Broker keyed ``<namespace>/<name>``;
    ``ingress_of(broker)`` is that Broker's ingress URL (the failed destination reported when a
    reply is invalid). A dispatcher is stopped once and never restarted.
    """

    def __init__(
        self,
        *,
        workers: int,
        history: int,
        republish: Callable[[str, CloudEvent], object],
        ingress_of: Callable[[str], str],
        on_delivery: Callable[[DeliveryRecord], None] | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self._workers_count = max(1, workers)
        self._records: deque[DeliveryRecord] = deque(maxlen=history)
        self._republish = republish
        self._ingress_of = ingress_of
        self._on_delivery = on_delivery
        self._credentials = credentials
        self._lock = threading.Condition()
        self._timers: list[tuple[float, int, _Task]] = []
        self._seq = itertools.count()
        self._pending = 0
        self._queue: queue.Queue[_Task | None] = queue.Queue()
        self._pool = urllib3.PoolManager(maxsize=self._workers_count, retries=False)
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def stopping(self) -> bool:
        """True once :meth:`begin_stop` was called."""
        return self._stopping

    def threads(self) -> list[threading.Thread]:
        """The timer thread and the workers, for the caller to start."""
        return [
            threading.Thread(target=self._schedule_loop, name="broker-timers", daemon=True),
            *(
                threading.Thread(target=self._work_loop, name=f"broker-worker-{i}", daemon=True)
                for i in range(self._workers_count)
            ),
        ]

    def begin_stop(self) -> None:
        """Attempt nothing more: a task taken is dropped, no retry is scheduled and no reply
        is published."""
        self._stopping = True

    def drain(self) -> None:
        """Drop the scheduled retries and ask every worker to end once it is free."""
        with self._lock:
            timers, self._timers = self._timers, []
            self._lock.notify_all()
        for _, _, task in timers:
            self._finish(task, Outcome.DROPPED, "broker stopped before the retry was due")
        for _ in range(self._workers_count):
            self._queue.put(None)

    def close(self) -> None:
        """Release the connections (once the threads ended or were given up on)."""
        self._pool.clear()

    def submit(self, event: CloudEvent, routes: Sequence[Route]) -> None:
        """Deliver ``event`` to each of ``routes``; each counts as pending from now on."""
        now = time.time()
        with self._lock:
            self._pending += len(routes)
        for route in routes:
            self._queue.put(_Task(event, route, now))

    # ------------------------------------------------------------------ delivery

    def _schedule_loop(self) -> None:
        with self._lock:
            while not self._stopping:
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    _, _, task = heapq.heappop(self._timers)
                    self._queue.put(task)
                wait = self._timers[0][0] - now if self._timers else None
                self._lock.wait(timeout=wait)

    def _schedule(self, task: _Task, delay: float) -> None:
        if self._stopping:
            self._finish(task, Outcome.DROPPED, "broker stopped before the retry was due")
            return
        if delay <= 0:
            self._queue.put(task)
            return
        with self._lock:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), task))
            self._lock.notify_all()

    def _work_loop(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            if self._stopping:
                self._finish(task, Outcome.DROPPED, "broker stopped before delivery")
                continue
            try:
                if task.dead_letter is None:
                    self._attempt(task)
                else:
                    self._attempt_dead_letter(task)
            except Exception:
                log.exception(
                    "delivery of %s id=%s failed", task.event.get_type(), task.event.get_id()
                )
                self._finish(task, Outcome.DROPPED, "internal error (see log)")

    def _authorization(self, route: Route, audience: str | None) -> dict[str, str]:
        """The Trigger's token for ``audience`` (none without an audience or credentials)."""
        if audience is None or self._credentials is None:
            return {}
        return {"authorization": f"Bearer {self._credentials(route, audience)}"}

    def _attempt(self, task: _Task) -> None:
        route, delivery = task.route, task.route.delivery
        task.attempts += 1
        answer = post_event(
            self._pool,
            route.subscriber,
            task.event,
            timeout=delivery.timeout,
            structured=delivery.structured,
            extra_headers={"prefer": "reply", **self._authorization(route, route.audience)},
        )
        task.status = answer.status
        if answer.ok:
            try:
                reply = reply_of(answer)
            except events.MalformedEvent as exc:
                message = f"invalid reply: {exc}".encode()
                ingress = self._ingress_of(route.broker)
                self._dead_letter(task, ingress, 400, message, f"subscriber replied {exc}")
                return
            if reply is None:
                self._finish(task, Outcome.DELIVERED)
                return
            if self._stopping:
                self._finish(task, Outcome.DROPPED, "broker stopped before the reply was published")
                return
            self._republish(route.broker, reply)
            self._finish(task, Outcome.REPLIED, reply_type=reply.get_type())
            return
        if answer.retryable and task.attempts <= delivery.retry and not self._stopping:
            delay = delivery.backoff(task.attempts)
            log.debug(
                "retry %d/%d of %s id=%s to %s in %.3fs (got %d)",
                task.attempts,
                delivery.retry,
                task.event.get_type(),
                task.event.get_id(),
                route.trigger,
                delay,
                answer.status,
            )
            self._schedule(task, delay)
            return
        # Upstream reports a transport failure as 500 with a "dispatch error" body.
        code = answer.status if answer.status > 0 else 500
        body = answer.body if answer.status > 0 else f"dispatch error: {answer.error}".encode()
        reason = f"HTTP {answer.status}" if answer.status > 0 else answer.error
        self._dead_letter(task, route.subscriber, code, body, reason)

    def _dead_letter(self, task: _Task, dest: str, code: int, body: bytes, reason: str) -> None:
        task.reason = reason
        sink = task.route.delivery.dead_letter_sink
        if sink is None:
            log.warning(
                "dropping %s %s id=%s for %s: %s (no dead letter sink)",
                task.event.get_type(),
                task.event.get_subject() or "-",
                task.event.get_id(),
                task.route.trigger,
                reason,
            )
            self._finish(task, Outcome.DROPPED, reason)
            return
        data = base64.b64encode(body).decode()[:ERROR_DATA_MAX]
        task.dead_letter = with_extensions(
            task.event, **{ERROR_DEST: dest, ERROR_CODE: str(code), ERROR_DATA: data}
        )
        self._queue.put(task)

    def _attempt_dead_letter(self, task: _Task) -> None:
        assert task.dead_letter is not None
        delivery = task.route.delivery
        assert delivery.dead_letter_sink is not None
        task.dead_letter_attempts += 1
        answer = post_event(
            self._pool,
            delivery.dead_letter_sink,
            task.dead_letter,
            timeout=delivery.timeout,
            structured=delivery.structured,
            extra_headers=self._authorization(task.route, delivery.dead_letter_audience),
        )
        task.dead_letter_status = answer.status
        if answer.ok:
            self._finish(task, Outcome.DEAD_LETTERED, task.reason)
            return
        if answer.retryable and task.dead_letter_attempts <= delivery.retry and not self._stopping:
            self._schedule(task, delivery.backoff(task.dead_letter_attempts))
            return
        log.error(
            "lost %s %s id=%s for %s: %s, and the dead letter sink answered %d",
            task.event.get_type(),
            task.event.get_subject() or "-",
            task.event.get_id(),
            task.route.trigger,
            task.reason,
            answer.status,
        )
        self._finish(task, Outcome.DROPPED, f"{task.reason}; dead letter sink failed")

    def _finish(
        self, task: _Task, outcome: Outcome, reason: str = "", reply_type: str | None = None
    ) -> None:
        record = DeliveryRecord(
            event_id=task.event.get_id(),
            event_type=task.event.get_type(),
            subject=task.event.get_subject(),
            broker=task.route.broker,
            trigger=task.route.trigger,
            subscriber=task.route.subscriber,
            status=task.status,
            attempts=task.attempts,
            outcome=outcome,
            reply_type=reply_type,
            dead_letter_status=task.dead_letter_status,
            started=task.started,
            finished=time.time(),
            reason=reason,
        )
        with self._lock:
            self._records.append(record)
            self._pending -= 1
            self._lock.notify_all()
        if self._on_delivery is not None:
            try:
                self._on_delivery(record)
            except Exception:
                log.exception("on_delivery callback failed")

    # ------------------------------------------------------------------ observing

    def deliveries(self) -> list[DeliveryRecord]:
        """The most recent delivery records (bounded), oldest first."""
        with self._lock:
            return list(self._records)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until no delivery is queued, in progress or waiting for a retry (replies
        included); False if that did not happen within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(timeout=left)
            return True
