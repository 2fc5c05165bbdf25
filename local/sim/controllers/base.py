"""The controller machinery: a base class, the knobs, the manager that runs them, and the work
queue and API-access helpers every controller shares.

No controller's own logic lives here (what to do with a Deployment, a Pod...); see the sibling
modules. The helpers read and write only through the :class:`~local.sim.store.Store` API.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from local.sim import errors
from local.sim.clock import Clock
from local.sim.containers import Runner
from local.sim.events import Event
from local.sim.objects import Obj
from local.sim.resources import ResourceType
from local.sim.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

Key = tuple[str, str]
"""(namespace, name): what a controller queues for a namespaced object."""
RESYNC_SECONDS = 5.0
"""Real seconds between two syncs of every object a controller owns (healing; changes act at
once)."""


@dataclass(frozen=True)
class Settings:
    """Knobs of the simulated workloads (seconds are on the simulator's clock)."""

    pod_ready_delay: float = 1.0
    """How long a Pod stays Pending/not Ready before it becomes Ready."""
    job_run_seconds: float = 1.0
    """How long a Job's Pod runs before it succeeds or fails."""
    tick: float = 0.05
    """Real seconds between two ticks of each controller."""
    live: Runner | None = None
    """Which images the kubelet runs as real processes (``local/sim/containers.py``); None:
    every Pod is pretend."""
    live_drain: float = 1.0
    """Real seconds a deleted live Pod's processes keep serving before SIGTERM."""


def key_of(obj: Obj) -> Key:
    """The queue key of a namespaced object as the store returns it."""
    return (obj["metadata"]["namespace"], obj["metadata"]["name"])


def status_condition(status: Obj, kind: str) -> Obj | None:
    """A copy of the condition of type ``kind`` in an object's ``status``, if any."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


class DueQueue(Generic[K]):
    """The keys a controller has to sync, each with the time it is due (any one clock).

    A key is queued once, at the earliest time asked for; queuing it again for later changes
    nothing.
    """

    def __init__(self) -> None:
        self._due: dict[K, float] = {}

    def enqueue(self, key: K, at: float = 0.0) -> None:
        """Have ``key`` synced at ``at`` (the default: at once), or earlier if so queued."""
        self._due[key] = min(self._due.get(key, at), at)

    def discard(self, key: K) -> None:
        self._due.pop(key, None)

    def pop_due(self, now: float) -> Iterator[K]:
        """The keys due at ``now``, in the order they were queued. Each leaves the queue only
        as it is handed out: should the caller stop early (a sync raised), the rest stay queued
        for the next call. A key first queued while the caller works waits for the next call."""
        for key in [k for k, at in self._due.items() if at <= now]:
            del self._due[key]
            yield key


class Every:
    """A periodic chore: :meth:`due` says True once ``seconds`` real (monotonic) seconds have
    passed since it last did, or since the timer was made."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._next = time.monotonic() + seconds

    def due(self) -> bool:
        if time.monotonic() < self._next:
            return False
        self._next = time.monotonic() + self.seconds
        return True


class Controller:
    """Base class: override :attr:`kinds`, :meth:`handle` and/or :meth:`tick`."""

    kinds: tuple[tuple[str, str], ...] = ()
    """(group, plural) of the objects whose changes :meth:`handle` receives; empty = all."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    @property
    def clock(self) -> Clock:
        return self.store.clock

    def rt(self, group: str, plural: str) -> ResourceType:
        """The served type for (group, plural)."""
        found = self.store.registry.versions_of(group, plural)
        if not found:
            raise errors.page_not_found(f"{group}/{plural}")
        return found[0]

    def handle(self, event: Event) -> None:
        """React to one committed change (``event.obj`` is read-only)."""

    def tick(self) -> None:
        """Called every ``settings.tick`` seconds, for time-based transitions."""

    def close(self) -> None:
        """Release what the controller holds outside the store (called once it stopped)."""

    def retry_on_conflict(self, action: Callable[[], T], attempts: int = 10) -> T | None:
        """Run ``action``; retry on 409 Conflict; give up quietly on 404 (object gone)."""
        for _ in range(attempts):
            try:
                return action()
            except errors.ApiError as exc:
                if exc.code == 404:
                    return None
                if exc.code != 409:
                    raise
        return None

    # -------------------------------------------------------------------- the work queue

    def resync(
        self, queue: DueQueue[Key], rt: ResourceType, keep: Callable[[Obj], bool] | None = None
    ) -> None:
        """Queue every object of ``rt`` (that ``keep`` accepts) to be synced at once."""
        for obj in self.store.list(rt)[0]:
            if keep is None or keep(obj):
                queue.enqueue(key_of(obj))

    def due_objects(self, queue: DueQueue[Key], rt: ResourceType, now: float) -> Iterator[Obj]:
        """The objects of ``rt`` whose keys are due at ``now``, read afresh (see
        :meth:`DueQueue.pop_due`); the ones gone meanwhile are skipped."""
        for namespace, name in queue.pop_due(now):
            obj = self.get_or_none(rt, namespace, name)
            if obj is not None:
                yield obj

    # -------------------------------------------------------------------- reading and writing

    def get_or_none(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        """The object, or None when there is none (404)."""
        try:
            return self.store.get(rt, namespace, name)
        except errors.ApiError as exc:
            if exc.code == 404:
                return None
            raise

    def patch_if_same(
        self,
        rt: ResourceType,
        obj: Obj,
        change: Callable[[Obj], Obj],
        *,
        subresource: str | None = None,
    ) -> Obj | None:
        """Apply ``change`` to the stored version of ``obj``, unless its name now belongs to
        another object (another uid), which is left as it is. Retried on conflict; None once
        the object is gone."""
        meta = obj["metadata"]
        uid = meta["uid"]

        def guarded(current: Obj) -> Obj:
            return change(current) if current["metadata"].get("uid") == uid else current

        return self.retry_on_conflict(
            lambda: self.store.patch(
                rt, meta.get("namespace"), meta["name"], guarded, subresource=subresource
            )
        )

    def replace_status(self, rt: ResourceType, obj: Obj, status: Obj) -> None:
        """Write ``status`` as the whole status of ``obj`` (see :meth:`patch_if_same`)."""

        def write(current: Obj) -> Obj:
            current["status"] = status
            return current

        self.patch_if_same(rt, obj, write, subresource="status")

    def delete_if_same(self, rt: ResourceType, obj: Obj) -> Obj | None:
        """Delete ``obj`` (a uid precondition keeps a namesake safe); the deleted object, or
        None when it is gone or its name belongs to another object now (404, 409)."""
        meta = obj["metadata"]
        try:
            return self.store.delete(rt, meta.get("namespace"), meta["name"], uid=meta["uid"])
        except errors.ApiError as exc:
            if exc.code not in (404, 409):
                raise
            return None


class Manager:
    """Runs controllers, each in its own thread, until :meth:`stop`."""

    def __init__(self, store: Store, controllers: Iterable[Controller], settings: Settings) -> None:
        self.store = store
        self.controllers = list(controllers)
        self.settings = settings
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for controller in self.controllers:
            thread = threading.Thread(
                target=self._run, args=(controller,), name=type(controller).__name__, daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _run(self, controller: Controller) -> None:
        watcher, backlog = self.store.watch(None, resource_version="0")
        wanted = set(controller.kinds)
        self._deliver(controller, wanted, backlog)
        for rt, obj in self.store.all_objects():
            if not wanted or rt.key in wanted:
                self._safely(controller.handle, _initial(rt, obj))
        try:
            while not self._stop.is_set():
                event = watcher.next(timeout=self.settings.tick)
                batch = [] if event is None else [event]
                while event is not None and len(batch) < 100:
                    event = watcher.next(timeout=0)
                    if event is not None:
                        batch.append(event)
                self._deliver(controller, wanted, batch)
                self._safely(controller.tick)
        finally:
            watcher.close()

    def _deliver(
        self, controller: Controller, wanted: set[tuple[str, str]], events: list[Event]
    ) -> None:
        for event in events:
            if not wanted or event.key in wanted:
                self._safely(controller.handle, event)

    @staticmethod
    def _safely(call: Callable[..., None], *args: object) -> None:
        try:
            call(*args)
        except Exception:  # a controller bug must not kill the simulator
            log.exception("simulated controller failed")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        for controller in self.controllers:
            self._safely(controller.close)


def _initial(rt: ResourceType, obj: Obj) -> Event:
    return Event("ADDED", rt.key, int(obj["metadata"]["resourceVersion"]), obj, None)
