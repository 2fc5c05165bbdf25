"""The garbage collector, driven through the store in-process.

Covered: background deletion collecting the dependents of dead owners, foreground deletion
removing dependents before the owner, orphan deletion keeping dependents without the reference.
"""

from __future__ import annotations

import time

from local.sim.cluster import Simulator
from local.sim.events import DELETED
from tests.sim.workloads import (
    NS,
    configmap,
    create_deployment,
    drain,
    eventually,
    exists,
    get,
    objects,
    pods_of,
    rolled_out,
    rt,
)

# ------------------------------------------------------------------------- garbage collection


def test_background_deletion_collects_dependents_of_dead_owners(cluster: Simulator) -> None:
    owner = configmap(cluster, "owner")
    other = configmap(cluster, "other")
    configmap(cluster, "only-child", owner)
    configmap(cluster, "shared-child", owner, other)

    cluster.store.delete(rt(cluster, "", "configmaps"), NS, "owner")

    eventually(lambda: not exists(cluster, "", "configmaps", "only-child"))
    shared = eventually(
        lambda: (
            len(
                (c := get(cluster, "", "configmaps", "shared-child"))["metadata"]["ownerReferences"]
            )
            == 1
            and c
        )
    )
    assert shared["metadata"]["ownerReferences"][0]["uid"] == other["metadata"]["uid"]


def test_foreground_deletion_removes_dependents_before_the_owner(cluster: Simulator) -> None:
    create_deployment(cluster, "web", "app:v1", replicas=2)
    eventually(lambda: rolled_out(cluster, "web"))
    watcher, _ = cluster.store.watch(None, resource_version=str(cluster.store.resource_version))

    marked = cluster.store.delete(
        rt(cluster, "apps", "deployments"), NS, "web", propagation="Foreground"
    )

    assert marked["metadata"]["deletionTimestamp"]
    eventually(lambda: not exists(cluster, "apps", "deployments", "web"))
    assert not pods_of(cluster, "web") and not objects(cluster, "apps", "replicasets")
    deletions = [(e.key, e.rv) for e in drain(watcher) if e.type == DELETED]
    (gone,) = [rv for key, rv in deletions if key == ("apps", "deployments")]
    assert all(rv < gone for key, rv in deletions if key != ("apps", "deployments"))
    assert any(key == ("", "pods") for key, _ in deletions)


def test_orphan_deletion_keeps_dependents_without_the_reference(cluster: Simulator) -> None:
    create_deployment(cluster, "web", "app:v1", replicas=2)
    eventually(lambda: rolled_out(cluster, "web"))
    (rs,) = objects(cluster, "apps", "replicasets")

    cluster.store.delete(rt(cluster, "apps", "deployments"), NS, "web", propagation="Orphan")

    eventually(lambda: not exists(cluster, "apps", "deployments", "web"))
    kept = get(cluster, "apps", "replicasets", rs["metadata"]["name"])
    assert "ownerReferences" not in kept["metadata"]
    time.sleep(0.2)
    assert len(pods_of(cluster, "web")) == 2
