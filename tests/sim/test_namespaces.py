"""The Namespace controller, driven through the store in-process.

Covered: deleting a Namespace deletes its contents; a terminating Namespace is emptied and
released.
"""

from __future__ import annotations

from local.sim.cluster import Simulator
from local.sim.objects import Obj
from tests.sim.workloads import configmap, deployment_body, eventually, exists, get, objects, rt

# --------------------------------------------------------------------------------- Namespaces


def test_deleting_a_namespace_deletes_its_contents(cluster: Simulator) -> None:
    namespaces = rt(cluster, "", "namespaces")
    cluster.store.create(namespaces, None, {"metadata": {"name": "team"}})
    body = deployment_body("web", "app:v1", 2)
    cluster.store.create(rt(cluster, "apps", "deployments"), "team", body)
    cluster.store.create(rt(cluster, "", "configmaps"), "team", {"metadata": {"name": "cfg"}})
    eventually(lambda: len(objects(cluster, "", "pods", "team")) == 2)
    configmap(cluster, "bystander")

    cluster.store.delete(namespaces, None, "team")

    def empty() -> bool:
        return not any(
            objects(cluster, group, plural, "team")
            for group, plural in (
                ("apps", "deployments"),
                ("apps", "replicasets"),
                ("", "pods"),
                ("", "configmaps"),
            )
        )

    eventually(empty)
    eventually(lambda: not exists(cluster, "", "namespaces", "team", None))
    assert exists(cluster, "", "configmaps", "bystander")


def test_terminating_namespace_is_emptied_and_released(cluster: Simulator) -> None:
    namespaces = rt(cluster, "", "namespaces")
    body = {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    cluster.store.create(namespaces, None, body)
    cluster.store.create(rt(cluster, "", "configmaps"), "held", {"metadata": {"name": "cfg"}})

    cluster.store.delete(namespaces, None, "held")

    def released() -> Obj | None:
        ns = get(cluster, "", "namespaces", "held", None)
        return ns if ns["spec"]["finalizers"] == [] else None

    ns = eventually(released)
    assert ns["status"]["phase"] == "Terminating"
    assert not objects(cluster, "", "configmaps", "held")

    def unhold(obj: Obj) -> Obj:
        obj["metadata"]["finalizers"] = []
        return obj

    cluster.store.patch(namespaces, None, "held", unhold)
    assert not exists(cluster, "", "namespaces", "held", None)
