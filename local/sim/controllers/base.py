"""The controller machinery: a base class, the knobs, and the manager that runs them.

No controller logic lives here; see the sibling modules.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from local.sim import errors
from local.sim.clock import Clock
from local.sim.resources import ResourceType
from local.sim.store import Event, Obj, Store

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Knobs of the simulated workloads (seconds are on the simulator's clock)."""

    pod_ready_delay: float = 1.0
    """How long a Pod stays Pending/not Ready before it becomes Ready."""
    job_run_seconds: float = 1.0
    """How long a Job's Pod runs before it succeeds or fails."""
    tick: float = 0.05
    """Real seconds between two ticks of each controller."""


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


def _initial(rt: ResourceType, obj: Obj) -> Event:
    return Event("ADDED", rt.key, int(obj["metadata"]["resourceVersion"]), obj, None)
