"""Timers: a CloudEvent to be sent to the Broker at a given time, as an RQ scheduled job.

A timer's job id is derived from the event it fires, whose id follows from what it says
(``shared.facts``): scheduling it twice keeps one job, canceling names the same event, and the
function receiving it dedupes a double firing. The RQ worker (``rq worker --with-scheduler``)
fires due jobs, also those that came due while it was down. Functions never sleep: they
schedule.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime

import redis
from cloudevents.core.v1.event import CloudEvent
from rq import Queue, Retry
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job

from shared import events, sink
from shared.settings import Settings


def fire(event_json: str, broker_url: str) -> None:
    """The job RQ runs: send the event to the Broker (raises so RQ retries on failure).

    The job carries the Broker's URL of when it was set; a worker configured with its own
    (``FERRY_BROKER_URL``, as ``ferry up`` does) sends there instead, because the Broker may
    have moved since: a restarted local runtime listens on a new port."""
    token = None
    with contextlib.suppress(RuntimeError):  # none configured: the one recorded with the timer
        settings = Settings.from_env()
        broker_url, token = settings.broker_url, settings.broker_token()
    sink.send(broker_url, events.from_json(event_json), token=token)


def timer_id(event: CloudEvent) -> str:
    """The timer that fires ``event``: one per fact (RQ ids: letters, digits, - and _)."""
    digest = hashlib.sha256(f"{event.get_source()}\x00{event.get_id()}".encode()).hexdigest()
    return f"ferry-timer-{digest[:32]}"


class Timers:
    def __init__(self, connection: redis.Redis, broker_url: str, queue: str) -> None:
        self.queue = Queue(queue, connection=connection)
        self.broker_url = broker_url

    def schedule(self, at: float, event: CloudEvent) -> None:
        """Send ``event`` to the Broker at epoch second ``at`` (one timer per event: scheduling
        it again moves it)."""
        when = datetime.fromtimestamp(at, UTC)
        self.queue.enqueue_at(
            when,
            fire,
            events.to_json(event),
            self.broker_url,
            job_id=timer_id(event),
            retry=Retry(max=5, interval=[1, 2, 5, 10, 30]),
            result_ttl=600,
            failure_ttl=24 * 3600,
        )

    def cancel(self, event: CloudEvent) -> None:
        """Level-based: the timer of ``event`` will not fire (no error if it is gone or already
        canceled, so a transition that cancels and then crashes can be redelivered)."""
        with contextlib.suppress(NoSuchJobError, InvalidJobOperation):
            Job.fetch(timer_id(event), connection=self.queue.connection).cancel()
