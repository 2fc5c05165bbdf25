"""Helpers for tests that drive the simulated controllers through the store, in-process.

Reading and writing objects of a simulator's store, the Deployment bodies the tests roll out,
the rollout-complete judgement ``kubectl rollout status`` makes, replaying a Pod watch, and
ConfigMaps with owner references. No fixture lives here (see ``conftest``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from local.sim import errors
from local.sim.cluster import Simulator
from local.sim.events import DELETED, Event, Watcher
from local.sim.objects import Obj
from local.sim.resources import ResourceType
from tests.sim import conftest

NS = "default"


def eventually(predicate: Callable[[], Any], timeout: float = 5) -> Any:
    """Poll every 10 ms until ``predicate`` returns something truthy; fail with its last value
    otherwise."""
    return conftest.eventually(predicate, timeout, interval=0.01)


def rt(sim: Simulator, group: str, plural: str) -> ResourceType:
    return sim.registry.versions_of(group, plural)[0]


def objects(sim: Simulator, group: str, plural: str, namespace: str = NS) -> list[Obj]:
    return sim.store.list(rt(sim, group, plural), namespace)[0]


def get(sim: Simulator, group: str, plural: str, name: str, namespace: str | None = NS) -> Obj:
    return sim.store.get(rt(sim, group, plural), namespace, name)


def exists(sim: Simulator, group: str, plural: str, name: str, namespace: str | None = NS) -> bool:
    try:
        get(sim, group, plural, name, namespace)
    except errors.ApiError as exc:
        assert exc.code == 404
        return False
    return True


def deployment_body(name: str, image: str, replicas: int = 2, **spec: Any) -> Obj:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            **spec,
        },
    }


def create_deployment(sim: Simulator, name: str, image: str, replicas: int = 2, **spec: Any) -> Obj:
    body = deployment_body(name, image, replicas, **spec)
    return sim.store.create(rt(sim, "apps", "deployments"), NS, body)


def patch_deployment(sim: Simulator, name: str, change: Callable[[Obj], None]) -> Obj:
    def apply(obj: Obj) -> Obj:
        change(obj)
        return obj

    return sim.store.patch(rt(sim, "apps", "deployments"), NS, name, apply)


def set_image(image: str) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = image

    return change


def condition(obj: Obj, kind: str) -> Obj:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return dict(cond)
    return {}


def rolled_out(sim: Simulator, name: str) -> Obj | None:
    """The Deployment once its rollout is complete (as ``kubectl rollout status`` judges)."""
    d = get(sim, "apps", "deployments", name)
    status = d.get("status") or {}
    want = d["spec"]["replicas"]
    done = (
        status.get("observedGeneration") == d["metadata"]["generation"]
        and status.get("updatedReplicas", 0) == want
        and status.get("replicas", 0) == want
        and status.get("availableReplicas", 0) == want
        and condition(d, "Progressing").get("reason") == "NewReplicaSetAvailable"
    )
    return d if done else None


def pods_of(sim: Simulator, app: str) -> list[Obj]:
    return [
        p for p in objects(sim, "", "pods") if p["metadata"].get("labels", {}).get("app") == app
    ]


def watch_pods(sim: Simulator) -> Watcher:
    watcher, _ = sim.store.watch(
        rt(sim, "", "pods"), NS, resource_version=str(sim.store.resource_version)
    )
    return watcher


def drain(watcher: Watcher) -> list[Event]:
    events = []
    while (event := watcher.next(timeout=0)) is not None:
        events.append(event)
    watcher.close()
    return events


def replay(start: list[Obj], events: list[Event]) -> Iterator[dict[str, Obj]]:
    """The set of live Pods (uid -> Pod) after each event, starting from ``start``."""
    live = {p["metadata"]["uid"]: p for p in start}
    for event in events:
        if event.type == DELETED:
            live.pop(event.obj["metadata"]["uid"], None)
        else:
            live[event.obj["metadata"]["uid"]] = event.obj
        yield live


def configmap(sim: Simulator, name: str, *owners: Obj) -> Obj:
    refs = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": o["metadata"]["name"],
            "uid": o["metadata"]["uid"],
            "blockOwnerDeletion": True,
        }
        for o in owners
    ]
    body: Obj = {"metadata": {"name": name, "ownerReferences": refs}, "data": {}}
    if not refs:
        del body["metadata"]["ownerReferences"]
    return sim.store.create(rt(sim, "", "configmaps"), NS, body)
