"""Watches through the official client and raw HTTP.

Covered: replay from a resourceVersion in order, live changes, 410 Gone from a compacted
resourceVersion, bookmarks, timeoutSeconds, twenty concurrent watchers seeing every event, and
a watch ending (and letting go of its subscription) when its client hangs up.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, watch

from local.sim.cluster import Simulator
from local.sim.server import watch as watch_streams
from tests.sim.client_calls import NS, configmap, core
from tests.sim.conftest import FAST, eventually

watching: Any = watch  # untyped parts of the client


def stream_events(resp: Any, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Read ``count`` events from a raw watch response (``_preload_content=False``)."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    for line in watching.watch.iter_resp_lines(resp):
        if line:
            events.append(json.loads(line))
        if len(events) >= count or time.monotonic() > deadline:
            break
    return events


@pytest.fixture
def small_history() -> Iterator[Simulator]:
    with Simulator(settings=FAST, history=5, controllers=False) as simulator:
        yield simulator


# ----------------------------------------------------------------------------- watch


def test_watch_from_a_resource_version_replays_changes_in_order(api: client.ApiClient) -> None:
    v1 = core(api)
    start = v1.list_namespaced_config_map(NS).metadata.resource_version
    v1.create_namespaced_config_map(NS, configmap("cm", a="1"))
    v1.patch_namespaced_config_map("cm", NS, {"data": {"a": "2"}})
    v1.delete_namespaced_config_map("cm", NS)
    w = watching.Watch()
    seen = []
    for event in w.stream(
        v1.list_namespaced_config_map, NS, resource_version=start, timeout_seconds=5
    ):
        seen.append((event["type"], event["object"].metadata.name, event["object"].data))
        if len(seen) == 3:
            w.stop()
    assert seen == [
        ("ADDED", "cm", {"a": "1"}),
        ("MODIFIED", "cm", {"a": "2"}),
        ("DELETED", "cm", {"a": "2"}),
    ]


def test_watch_delivers_live_changes(sim: Simulator, api: client.ApiClient) -> None:
    v1 = core(api)
    resp = v1.list_namespaced_config_map(
        NS, watch=True, label_selector="app=x", timeout_seconds=5, _preload_content=False
    )
    v1.create_namespaced_config_map(NS, configmap("other"))
    v1.create_namespaced_config_map(NS, configmap("cm", {"app": "x"}))
    events = stream_events(resp, 1)
    resp.release_conn()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "cm")]


def test_watch_from_a_compacted_resource_version_is_gone(small_history: Simulator) -> None:
    with small_history.api_client() as api:
        v1 = core(api)
        start = v1.list_namespaced_config_map(NS).metadata.resource_version
        for i in range(8):
            v1.create_namespaced_config_map(NS, configmap(f"cm-{i}"))
        resp = v1.list_namespaced_config_map(
            NS, watch=True, resource_version=start, timeout_seconds=5, _preload_content=False
        )
        events = stream_events(resp, 1)
        resp.release_conn()
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    error = events[0]["object"]
    assert (error["kind"], error["code"], error["reason"]) == ("Status", 410, "Expired")


def test_watch_sends_bookmarks_when_asked(
    api: client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch_streams, "BOOKMARK_EVERY", 0.05)
    v1 = core(api)
    v1.create_namespaced_config_map(NS, configmap("cm"))
    rv = v1.list_namespaced_config_map(NS).metadata.resource_version
    resp = v1.list_namespaced_config_map(
        NS,
        watch=True,
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=5,
        _preload_content=False,
    )
    events = stream_events(resp, 1)
    resp.release_conn()
    assert events[0]["type"] == "BOOKMARK"
    assert events[0]["object"]["kind"] == "ConfigMap"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= int(rv)


def test_watch_ends_after_timeout_seconds(api: client.ApiClient) -> None:
    v1 = core(api)
    rv = v1.list_namespaced_config_map(NS).metadata.resource_version
    started = time.monotonic()
    resp = v1.list_namespaced_config_map(
        NS, watch=True, resource_version=rv, timeout_seconds=1, _preload_content=False
    )
    lines = list(watching.watch.iter_resp_lines(resp))
    elapsed = time.monotonic() - started
    assert lines == []
    assert 0.9 <= elapsed < 3


def test_twenty_concurrent_watchers_see_every_event(quiet: Simulator) -> None:
    sim = quiet
    writes = 10
    baseline = sim.store.watcher_count
    results: dict[int, list[str]] = {}
    clients = [sim.api_client() for _ in range(20)]

    def watcher(i: int) -> None:
        resp = core(clients[i]).list_namespaced_config_map(
            NS, watch=True, resource_version="0", timeout_seconds=10, _preload_content=False
        )
        events = stream_events(resp, writes, timeout=10)
        resp.release_conn()
        results[i] = [f"{e['type']}:{e['object']['metadata']['name']}" for e in events]

    threads = [threading.Thread(target=watcher, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    eventually(lambda: sim.store.watcher_count >= baseline + 20)
    with sim.api_client() as api:
        for i in range(writes):
            core(api).create_namespaced_config_map(NS, configmap(f"cm-{i}"))
    for t in threads:
        t.join(timeout=15)
    for c in clients:
        c.close()
    expected = [f"ADDED:cm-{i}" for i in range(writes)]
    assert results == {i: expected for i in range(20)}


def test_a_watch_ends_when_its_client_hangs_up(quiet: Simulator) -> None:
    sim = quiet
    baseline = sim.store.watcher_count
    host, port = sim.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(
            b"GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: sim\r\n\r\n"
        )
        assert conn.recv(100).startswith(b"HTTP/1.1 200")
        assert sim.store.watcher_count == baseline + 1
    eventually(lambda: sim.store.watcher_count == baseline, timeout=5)
