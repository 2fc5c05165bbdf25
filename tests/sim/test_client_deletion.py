"""Concurrent writers and deletion through the official client.

Covered: lost-update freedom under concurrent read-modify-write; finalizers holding a deletion
until removed; Namespace deletion waiting for its contents and refusing new ones.
"""

from __future__ import annotations

import threading

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from local.sim.cluster import Simulator
from tests.sim.client_calls import NS, configmap, core, failure
from tests.sim.conftest import eventually

# ----------------------------------------------------------------------------- concurrency


def test_concurrent_read_modify_write_loses_no_update(sim: Simulator) -> None:
    threads, increments = 8, 25
    with sim.api_client() as api:
        core(api).create_namespaced_config_map(NS, configmap("counter", n="0"))
    conflicts = []

    def worker() -> None:
        with sim.api_client() as api:
            v1 = core(api)
            done = 0
            while done < increments:
                cm = v1.read_namespaced_config_map("counter", NS)
                cm.data["n"] = str(int(cm.data["n"]) + 1)
                try:
                    v1.replace_namespaced_config_map("counter", NS, cm)
                except ApiException as exc:
                    if exc.status != 409:
                        raise
                    conflicts.append(1)
                    continue
                done += 1

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    with sim.api_client() as api:
        final = core(api).read_namespaced_config_map("counter", NS)
    assert final.data["n"] == str(threads * increments)


# ----------------------------------------------------------------------------- finalizers


def test_finalizer_holds_deletion_until_removed(api: client.ApiClient) -> None:
    v1 = core(api)
    body = configmap("held")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    v1.create_namespaced_config_map(NS, body)
    v1.delete_namespaced_config_map("held", NS)
    marked = v1.read_namespaced_config_map("held", NS)
    assert marked.metadata.deletion_timestamp is not None
    assert marked.metadata.finalizers == ["example.com/hold"]
    status, _ = failure(
        v1.patch_namespaced_config_map,
        "held",
        NS,
        {"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}},
        _content_type="application/merge-patch+json",
    )
    assert status == 422
    v1.patch_namespaced_config_map(
        "held", NS, {"metadata": {"finalizers": None}}, _content_type="application/merge-patch+json"
    )
    status, _ = failure(v1.read_namespaced_config_map, "held", NS)
    assert status == 404


# ----------------------------------------------------------------------------- namespaces


def test_namespace_deletion_waits_for_contents_and_refuses_new_ones(api: client.ApiClient) -> None:
    v1 = core(api)
    v1.create_namespace({"metadata": {"name": "team"}})
    held = configmap("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    v1.create_namespaced_config_map("team", held)
    v1.create_namespaced_config_map("team", configmap("plain"))
    v1.delete_namespace("team")
    eventually(lambda: v1.read_namespace("team").status.phase == "Terminating")
    status, body = failure(v1.create_namespaced_config_map, "team", configmap("late"))
    assert (status, body["reason"]) == (403, "Forbidden")
    assert "being terminated" in body["message"]
    eventually(
        lambda: [c.metadata.name for c in v1.list_namespaced_config_map("team").items] == ["held"]
    )
    assert v1.read_namespace("team").metadata.deletion_timestamp is not None
    v1.patch_namespaced_config_map(
        "held",
        "team",
        {"metadata": {"finalizers": None}},
        _content_type="application/merge-patch+json",
    )

    def namespace_gone() -> bool:
        try:
            v1.read_namespace("team")
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    eventually(namespace_gone)
