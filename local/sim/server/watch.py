"""Watch streams: ``?watch=true`` answered with one JSON event per line, for as long as asked.

A stream replays the backlog the store gives (or 410 Gone as an ERROR event), then forwards
live events, sends BOOKMARKs when the client allows them, renders each event as a one-row Table
for ``kubectl get -w``, and ends at ``timeoutSeconds``, when the client hangs up, or when the
server stops. It only reads the store; request decoding is ``inputs``'.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator

from flask import Response, request

from local.sim import errors
from local.sim.events import Watcher
from local.sim.objects import Obj
from local.sim.resources import ResourceType
from local.sim.server.inputs import selectors
from local.sim.server.responses import JSON, table, wants_table
from local.sim.store import Store

BOOKMARK_EVERY = 1.0
"""Seconds between BOOKMARK events on a watch that asked for them."""
DEFAULT_WATCH_TIMEOUT = 1800.0


def hung_up(connection: socket.socket | None) -> bool:
    """Whether the client closed its end. A quiet watch writes nothing, so without this check
    it would hold its thread and subscription until its timeout (30 minutes by default)."""
    if connection is None:
        return False
    try:
        poller = select.poll()  # not select.select: it fails on descriptors above 1023
        poller.register(connection, select.POLLIN)
        return bool(poller.poll(0)) and connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # ValueError: the socket is already closed
        return True


class Watches:
    """The open watch streams of one server, so that stopping the server ends them all."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.stopping = threading.Event()
        self._streams: set[Watcher] = set()
        self._streams_lock = threading.Lock()

    def stop(self) -> None:
        """End every open watch stream now (the server is shutting down)."""
        self.stopping.set()
        with self._streams_lock:
            streams = list(self._streams)
        for watcher in streams:
            watcher.close()

    def stream(self, rt: ResourceType, namespace: str | None) -> Response:
        """The watch response for the current request on ``rt`` (in ``namespace``, if any)."""
        labels, fields = selectors()
        timeout = request.args.get("timeoutSeconds", type=float) or DEFAULT_WATCH_TIMEOUT
        bookmarks = request.args.get("allowWatchBookmarks") in ("true", "1")
        as_table = wants_table()
        include = request.args.get("includeObject", "Metadata")
        if as_table:
            table(self.store, rt, [], {}, include=include)  # a bad includeObject fails here
        try:
            watcher, backlog = self.store.watch(
                rt,
                namespace,
                resource_version=request.args.get("resourceVersion"),
                labels=labels,
                fields=fields,
            )
        except errors.ApiError as exc:
            if exc.code != 410:
                raise
            gone = json.dumps({"type": "ERROR", "object": exc.status()}) + "\n"
            return Response(gone, mimetype=JSON)
        store, stopping, streams = self.store, self.stopping, self._streams
        connection = request.environ.get("werkzeug.socket")
        with self._streams_lock:
            streams.add(watcher)

        columns_sent = False

        def out(kind: str, obj: Obj) -> str:
            nonlocal columns_sent
            view = obj
            if obj.get("apiVersion") != rt.api_version:
                view = dict(obj, apiVersion=rt.api_version)
            if as_table:  # kubectl get -w: each event carries a one-row Table
                view = table(store, rt, [view], {}, include=include)
                if columns_sent:  # as the real server does; kubectl reuses the first ones
                    view["columnDefinitions"] = []
                columns_sent = True
            return json.dumps({"type": kind, "object": view}, separators=(",", ":")) + "\n"

        def stream() -> Iterator[str]:
            deadline = time.monotonic() + timeout
            next_bookmark = time.monotonic() + BOOKMARK_EVERY
            try:
                yield ""  # sends the headers now: clients wait for them before they go on
                for old in backlog:
                    yield out(old.type, old.obj)
                while not stopping.is_set():
                    now = time.monotonic()
                    if now >= deadline:
                        return
                    wait = min(deadline, next_bookmark if bookmarks else deadline, now + 0.5)
                    quiet_since = store.resource_version  # all up to here is queued already
                    event = watcher.next(timeout=max(0.0, wait - now))
                    if event is not None:
                        yield out(event.type, event.obj)
                    elif hung_up(connection):
                        return
                    elif bookmarks and time.monotonic() >= next_bookmark:
                        next_bookmark = time.monotonic() + BOOKMARK_EVERY
                        mark = {
                            "kind": rt.kind,
                            "apiVersion": rt.api_version,
                            "metadata": {"resourceVersion": str(quiet_since)},
                        }
                        yield json.dumps({"type": "BOOKMARK", "object": mark}) + "\n"
            finally:
                watcher.close()
                with self._streams_lock:
                    streams.discard(watcher)

        return Response(stream(), mimetype=JSON, headers={"Cache-Control": "no-cache"})
