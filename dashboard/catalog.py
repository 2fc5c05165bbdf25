"""Every Rollout in memory, kept current by one list and a watch (an informer).

The list page is asked for often, by many people, at any number of rollouts: serving it from
this copy costs the API server one watch in all, not a list of every Rollout per request. A
watch that ends is resumed from the last version seen; one too old to resume (410 Gone) lists
again. Until the first list is in, :meth:`rollouts` reads the API directly. Reads only.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from shared import models
from shared.kube import Kube

log = logging.getLogger(__name__)
Obj = dict[str, Any]
ROUND = 60.0
"""Seconds one watch request lasts before it is made again."""


class Catalog:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._items: dict[tuple[str, str], Obj] = {}
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Catalog:
        self._thread = threading.Thread(target=self._run, name="ferry-catalog", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def rollouts(self, namespace: str | None = None) -> list[Obj]:
        """The Rollouts (of ``namespace``), as last seen."""
        if not self._synced.is_set():
            return self.kube.rollouts(namespace)
        with self._lock:
            return [o for (ns, _), o in self._items.items() if namespace in (None, ns)]

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                version = self._list()
                while not self._stopped.is_set() and version:
                    version = self._watch(version)
            except Exception as exc:  # the API is away: try again shortly
                log.warning("rollout catalog: %s; listing again", exc)
                self._stopped.wait(1.0)

    def _list(self) -> str:
        path = f"/apis/{models.API_VERSION}/{models.PLURAL}"
        listed = self.kube.request("GET", path)
        items = {
            (o["metadata"]["namespace"], o["metadata"]["name"]): o
            for o in listed.get("items") or []
        }
        with self._lock:
            self._items = items
        self._synced.set()
        return str((listed.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, version: str) -> str:
        """Apply one watch request's changes; the version to resume from ("" to list)."""
        for kind, obj in self.kube.watch(models.API_VERSION, models.PLURAL, None, version, ROUND):
            if self._stopped.is_set():
                return ""
            if kind == "ERROR":
                return ""  # 410 Gone or another refusal: list again
            meta = obj.get("metadata") or {}
            version = str(meta.get("resourceVersion") or version)
            key = (str(meta.get("namespace")), str(meta.get("name")))
            with self._lock:
                if kind in ("ADDED", "MODIFIED"):
                    self._items[key] = obj
                elif kind == "DELETED":
                    self._items.pop(key, None)
        return version
