"""The Endpoints controller: an ``Endpoints`` object for each Service with a selector.

For every Pod the Service selects that has an IP, is not finished and is not being deleted, an
address (``ip``, ``nodeName``, ``targetRef`` to the Pod) goes to ``addresses`` when the Pod is
Ready and to ``notReadyAddresses`` otherwise (``publishNotReadyAddresses`` puts them all in
``addresses``). Ports come from the Service: name, protocol and the resolved ``targetPort`` (a
number, or a container port looked up by name in the Pod). Addresses with the same ports share a
subset. The Endpoints object carries the Service's labels (plus ``service.kubernetes.io/headless``
for headless Services) and goes away with the Service. Services without a selector keep
whatever Endpoints their users write. EndpointSlices are not modelled. This module writes
Endpoints only.
"""

from __future__ import annotations

import json
from typing import Any

from local.sim import errors
from local.sim.controllers import kubelet
from local.sim.controllers.base import RESYNC_SECONDS, Controller, DueQueue, Every, Key, Settings
from local.sim.events import DELETED, Event
from local.sim.objects import Obj
from local.sim.selectors import LabelSelector, SelectorError, label_selector_from_object
from local.sim.store import Store

HEADLESS = "service.kubernetes.io/headless"


def _selector(service: Obj) -> LabelSelector | None:
    """The Service's Pod selector; None when it selects nothing (no or empty selector)."""
    spec = service.get("spec") or {}
    wanted = spec.get("selector")
    if not wanted or spec.get("type") == "ExternalName" or not isinstance(wanted, dict):
        return None
    try:
        return label_selector_from_object({"matchLabels": wanted})
    except SelectorError:
        return None


def target_port(pod: Obj, port: Obj) -> int | None:
    """The Pod's port number for a Service port (``targetPort`` by number or by name)."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = port.get("protocol", "TCP")
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == target and declared.get("protocol", "TCP") == protocol:
                number = declared.get("containerPort")
                return number if isinstance(number, int) else None
    return None


def subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The ``subsets`` of the Service's Endpoints, given the Pods its selector matches."""
    spec = service.get("spec") or {}
    tolerate = bool(spec.get("publishNotReadyAddresses"))
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    groups: dict[str, tuple[list[Obj], list[Obj], list[Obj]]] = {}
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or kubelet.is_terminal(pod) or (kubelet.is_terminating(pod) and not tolerate):
            continue
        meta = pod["metadata"]
        address: Obj = {
            "ip": ip,
            "targetRef": {
                "kind": "Pod",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
        }
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            address["nodeName"] = node
        resolved: list[Obj] = []
        for port in ports:
            number = target_port(pod, port)
            if number is None:
                continue
            entry: Obj = {"port": number, "protocol": port.get("protocol", "TCP")}
            if port.get("name"):
                entry = {"name": port["name"], **entry}
            resolved.append(entry)
        if ports and not resolved:
            continue
        key = json.dumps(resolved, sort_keys=True)
        ready, not_ready, _ = groups.setdefault(key, ([], [], resolved))
        (ready if tolerate or kubelet.is_ready(pod) else not_ready).append(address)
    out = []
    for key in sorted(groups):
        ready, not_ready, resolved = groups[key]
        subset: Obj = {}
        if ready:
            subset["addresses"] = sorted(ready, key=_address_order)
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=_address_order)
        if resolved:
            subset["ports"] = resolved
        out.append(subset)
    return out


def _address_order(address: Obj) -> tuple[Any, ...]:
    parts = str(address["ip"]).split(".")
    numeric = tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else ()
    return (numeric, address["ip"], address["targetRef"]["uid"])


class EndpointsController(Controller):
    """Keeps each selector Service's Endpoints in line with its Pods."""

    kinds = (("", "services"), ("", "pods"), ("", "endpoints"))

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(store, settings)
        self._services = self.rt("", "services")
        self._pods = self.rt("", "pods")
        self._endpoints = self.rt("", "endpoints")
        self._queue: DueQueue[Key] = DueQueue()
        self._resync = Every(RESYNC_SECONDS)

    def handle(self, event: Event) -> None:
        meta = event.obj["metadata"]
        namespace = meta.get("namespace", "")
        if event.key == self._services.key or (
            event.key == self._endpoints.key and event.type == DELETED
        ):
            self._queue.enqueue((namespace, meta["name"]))  # (a deleted Endpoints is recreated)
            return
        if event.key != self._pods.key:
            return
        labels = [meta.get("labels") or {}]
        if event.old is not None:
            labels.append(event.old["metadata"].get("labels") or {})
        for service in self.store.list(self._services, namespace)[0]:
            selector = _selector(service)
            if selector is not None and any(selector.matches(item) for item in labels):
                self._queue.enqueue((namespace, service["metadata"]["name"]))

    def tick(self) -> None:
        if self._resync.due():
            self.resync(self._queue, self._services)
        for namespace, name in self._queue.pop_due(self.clock.now()):
            self._sync(namespace, name)

    def _sync(self, namespace: str, name: str) -> None:
        service = self.get_or_none(self._services, namespace, name)
        if service is None:
            self._delete(namespace, name)
            return
        selector = _selector(service)
        if selector is None:
            return
        pods, _, _ = self.store.list(self._pods, namespace, labels=selector)
        labels = dict(service["metadata"].get("labels") or {})
        if (service.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS] = ""
        wanted = subsets(service, pods)
        current = self.get_or_none(self._endpoints, namespace, name)
        if current is None:
            body: Obj = {"metadata": {"name": name, "namespace": namespace}}
            if labels:
                body["metadata"]["labels"] = labels
            if wanted:
                body["subsets"] = wanted
            try:
                self.store.create(self._endpoints, namespace, body)
            except errors.ApiError as exc:
                if exc.code not in (404, 409):  # namespace gone; created meanwhile (next event)
                    raise
            return
        if (current.get("subsets") or []) == wanted and (
            current["metadata"].get("labels") or {}
        ) == labels:
            return

        def write(obj: Obj) -> Obj:
            if labels:
                obj["metadata"]["labels"] = labels
            else:
                obj["metadata"].pop("labels", None)
            if wanted:
                obj["subsets"] = wanted
            else:
                obj.pop("subsets", None)
            return obj

        self.retry_on_conflict(lambda: self.store.patch(self._endpoints, namespace, name, write))

    def _delete(self, namespace: str, name: str) -> None:
        try:
            self.store.delete(self._endpoints, namespace, name)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
