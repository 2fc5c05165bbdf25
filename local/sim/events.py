"""Committed changes and their fan-out: the events a watch delivers, and the history it replays.

The :class:`~local.sim.store.Store` records each committed change here as an :class:`Event`;
the :class:`EventLog` keeps the most recent ones (older resourceVersions are compacted: a watch
from them is 410 Gone) and offers each new one to every open :class:`Watcher`, which filters it
through its namespace, label and field selectors as the real watch cache does. This module
stores no object and decides nothing about writes; it runs under the store's lock.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from local.sim import errors
from local.sim.objects import CollectionKey, Obj
from local.sim.selectors import FieldSelector, LabelSelector

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


@dataclass(frozen=True)
class Event:
    """One committed change. ``obj`` and ``old`` are shared snapshots: do not mutate them."""

    type: str
    key: CollectionKey
    rv: int
    obj: Obj
    old: Obj | None


class Watcher:
    """A subscription to committed changes; read it with :meth:`next`, end it with :meth:`close`."""

    def __init__(
        self,
        log: EventLog,
        key: CollectionKey | None,
        namespace: str | None,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
    ) -> None:
        self._log = log
        self.key = key
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self.closed = False

    def _selects(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if self.labels is not None and not self.labels.matches(meta.get("labels") or {}):
            return False
        return self.fields is None or self.fields.matches(obj)

    def translate(self, event: Event) -> Event | None:
        """The event as this watcher sees it: objects entering or leaving its selection
        arrive as ADDED or DELETED, as with the real watch cache."""
        if self.key is not None and event.key != self.key:
            return None
        now = self._selects(event.obj)
        if event.type == DELETED:
            return event if now else None
        before = event.type == MODIFIED and self._selects(event.old)
        if now and before:
            return event
        if now:
            return Event(ADDED, event.key, event.rv, event.obj, event.old)
        if before:
            return Event(DELETED, event.key, event.rv, event.obj, event.old)
        return None

    def _offer(self, event: Event) -> None:
        seen = self.translate(event)
        if seen is not None:
            self._queue.put(seen)

    def next(self, timeout: float | None = None) -> Event | None:
        """The next event, or None on timeout or once the watcher is closed."""
        if self.closed and self._queue.empty():
            return None
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def __iter__(self) -> Iterator[Event]:
        while not self.closed:
            event = self.next()
            if event is None:
                return
            yield event

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._log.unsubscribe(self)
            self._queue.put(None)


class EventLog:
    """The retained history of committed changes and the watchers each new one goes to.

    It shares the store's lock: the store records and replays under it, so a watch never
    misses nor doubles an event committed while it subscribes.
    """

    def __init__(self, lock: threading.RLock, history: int) -> None:
        self._lock = lock
        self._history: deque[Event] = deque(maxlen=history)
        self._compacted = 0
        self._watchers: set[Watcher] = set()

    def record(self, event: Event) -> None:
        """Keep ``event`` (forgetting the oldest one when full) and offer it to every watcher."""
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].rv
        self._history.append(event)
        for watcher in list(self._watchers):
            watcher._offer(event)

    def watcher(
        self,
        key: CollectionKey | None,
        namespace: str | None,
        labels: LabelSelector | None,
        fields: FieldSelector | None,
    ) -> Watcher:
        """A new watcher of this log, not yet subscribed (see :meth:`subscribe`)."""
        return Watcher(self, key, namespace, labels, fields)

    def since(self, watcher: Watcher, resource_version: int) -> list[Event]:
        """Every retained change after ``resource_version`` as ``watcher`` sees it (410 Gone
        when changes after it were compacted away)."""
        if resource_version < self._compacted:
            raise errors.gone(
                f"too old resource version: {resource_version} ({self._compacted + 1})"
            )
        backlog: list[Event] = []
        for event in self._history:
            if event.rv > resource_version:
                seen = watcher.translate(event)
                if seen is not None:
                    backlog.append(seen)
        return backlog

    def subscribe(self, watcher: Watcher) -> None:
        """Start offering new events to ``watcher``."""
        with self._lock:
            self._watchers.add(watcher)

    def unsubscribe(self, watcher: Watcher) -> None:
        with self._lock:
            self._watchers.discard(watcher)

    @property
    def watcher_count(self) -> int:
        with self._lock:
            return len(self._watchers)
