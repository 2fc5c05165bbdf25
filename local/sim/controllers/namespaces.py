"""The Namespace controller: deleting a Namespace deletes everything in it.

A Namespace marked for deletion (``deletionTimestamp``) is reported ``Terminating``; every
namespaced object in it is deleted (as with ``propagationPolicy: Background``), again and again
until none is left (objects with finalizers of their own are waited for); then the
``kubernetes`` finalizer is removed from ``spec.finalizers`` and the Namespace goes.

The store removes a Namespace at once when it has no ``metadata.finalizers`` (it does not know
``spec.finalizers``); then this controller still deletes the contents, after the fact. Should
the Namespace's name be reused by then, the new Namespace's contents are left alone. This
module deletes objects and writes Namespaces; it never creates anything.
"""

from __future__ import annotations

import time

from local.sim.controllers.base import Controller, DueQueue, Settings
from local.sim.events import DELETED, Event
from local.sim.objects import Obj
from local.sim.store import Store

FINALIZER = "kubernetes"
RETRY_SECONDS = 0.2
"""Real seconds between two passes over a Namespace whose contents are not all gone yet."""


class NamespaceController(Controller):
    """Empties Namespaces being deleted, then lets them go."""

    kinds = (("", "namespaces"),)

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(store, settings)
        self._namespaces = self.rt("", "namespaces")
        self._queue: DueQueue[str] = DueQueue()  # names, due on the monotonic clock
        self._uids: dict[str, str] = {}  # name -> uid of the Namespace being deleted

    def handle(self, event: Event) -> None:
        meta = event.obj["metadata"]
        if event.type == DELETED or meta.get("deletionTimestamp"):
            self._uids[meta["name"]] = meta.get("uid", "")
            self._queue.enqueue(meta["name"])

    def tick(self) -> None:
        now = time.monotonic()
        for name in self._queue.pop_due(now):
            uid = self._uids.pop(name)
            if not self._finalize(name, uid):
                self._uids[name] = uid
                self._queue.enqueue(name, now + RETRY_SECONDS)

    def _finalize(self, name: str, uid: str) -> bool:
        """One pass over a Namespace being deleted; True once it is done with."""
        namespace = self.get_or_none(self._namespaces, None, name)
        if namespace is not None and namespace["metadata"].get("uid") != uid:
            return True  # the name was reused: that Namespace is not being deleted
        if namespace is not None:
            self._mark_terminating(namespace)
        if self._purge(name):
            return False
        if namespace is not None:
            self._drop_finalizer(namespace)
        return True

    def _purge(self, namespace: str) -> int:
        """Delete every object in ``namespace``; how many are still there (finalizers)."""
        remaining = 0
        for rt in self.store.registry.all():
            if not rt.namespaced or self.store.registry.versions_of(*rt.key)[0] != rt:
                continue
            for obj in self.store.list(rt, namespace)[0]:
                gone = self.delete_if_same(rt, obj)
                if gone is None:
                    continue
                if gone["metadata"].get("deletionTimestamp") and gone["metadata"].get("finalizers"):
                    remaining += 1
        return remaining

    def _mark_terminating(self, namespace: Obj) -> None:
        if (namespace.get("status") or {}).get("phase") == "Terminating":
            return

        def mark(obj: Obj) -> Obj:
            obj.setdefault("status", {})["phase"] = "Terminating"
            return obj

        self.patch_if_same(self._namespaces, namespace, mark, subresource="status")

    def _drop_finalizer(self, namespace: Obj) -> None:
        def drop(obj: Obj) -> Obj:
            spec = obj.setdefault("spec", {})
            spec["finalizers"] = [f for f in spec.get("finalizers") or () if f != FINALIZER]
            return obj

        self.patch_if_same(self._namespaces, namespace, drop)
