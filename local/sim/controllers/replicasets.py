"""The ReplicaSet controller: keeps ``spec.replicas`` Pods of a ReplicaSet's template in being.

It claims Pods as the real one does (adopts an orphan Pod its selector matches, releases an owned
Pod that no longer matches), creates missing Pods (``generateName: <rs>-``, the template's labels
and annotations, a controller ownerReference), deletes surplus ones (not yet scheduled, pending,
not ready, ready for the shortest time, most restarted, newest first) and reports
``status.replicas``, ``fullyLabeledReplicas``, ``readyReplicas``, ``availableReplicas`` (ready
for ``minReadySeconds``) and ``observedGeneration``. A ReplicaSet being deleted is no longer
scaled. It never writes a Pod's status (the kubelet does) and never touches Deployments.
"""

from __future__ import annotations

from typing import Any

from local.sim import errors
from local.sim.clock import parse_rfc3339
from local.sim.controllers import garbage, kubelet
from local.sim.controllers.base import (
    RESYNC_SECONDS,
    Controller,
    DueQueue,
    Every,
    Key,
    Settings,
    key_of,
)
from local.sim.events import Event
from local.sim.objects import Obj, clone
from local.sim.selectors import LabelSelector, SelectorError, label_selector_from_object
from local.sim.store import Store

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _labels(obj: Obj) -> dict[str, str]:
    return dict(obj["metadata"].get("labels") or {})


def _ready_since(pod: Obj) -> float | None:
    cond = kubelet.condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return _epoch(str(cond.get("lastTransitionTime") or ""))


def _deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """Sort key: Pods to delete first come first (Kubernetes' ``ActivePods`` order)."""
    status = pod.get("status") or {}
    ready_since = _ready_since(pod)
    try:
        cost = int((pod["metadata"].get("annotations") or {}).get(DELETION_COST, 0))
    except ValueError:
        cost = 0
    created = pod["metadata"].get("creationTimestamp", "")
    return (
        bool((pod.get("spec") or {}).get("nodeName")),
        _PHASE_RANK.get(status.get("phase", "Pending"), 0),
        ready_since is not None,
        cost,
        -(ready_since or 0.0),
        -kubelet.restart_count(pod),
        -_epoch(created),
    )


def _epoch(timestamp: str) -> float:
    try:
        return parse_rfc3339(timestamp) if timestamp else 0.0
    except ValueError:
        return 0.0


def available_since(pod: Obj, min_ready_seconds: int) -> float | None:
    """When a ready Pod counts as available (ready for ``min_ready_seconds``), else None."""
    since = _ready_since(pod)
    if since is None:
        return None
    return since + min_ready_seconds if min_ready_seconds > 0 else 0.0


class ReplicaSetController(Controller):
    """Creates and deletes Pods so each ReplicaSet has ``spec.replicas`` of them."""

    kinds = (("apps", "replicasets"), ("", "pods"))

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(store, settings)
        self._rs = self.rt("apps", "replicasets")
        self._pods = self.rt("", "pods")
        self._queue: DueQueue[Key] = DueQueue()
        self._resync = Every(RESYNC_SECONDS)

    # -------------------------------------------------------------------- queueing

    def handle(self, event: Event) -> None:
        meta = event.obj["metadata"]
        namespace = meta.get("namespace", "")
        if event.key == self._rs.key:
            self._queue.enqueue((namespace, meta["name"]))
            return
        for pod in (event.obj, event.old):
            if pod is None:
                continue
            ref = garbage.controller_of(pod)
            if ref is None:
                self._enqueue_selecting(namespace, _labels(pod))
            elif ref.get("kind") == "ReplicaSet":
                self._queue.enqueue((namespace, str(ref.get("name"))))

    def _enqueue_selecting(self, namespace: str, labels: dict[str, str]) -> None:
        """Queue every ReplicaSet that might adopt an orphan Pod with these labels."""
        for rs in self.store.list(self._rs, namespace)[0]:
            if _selector(rs).matches(labels):
                self._queue.enqueue((namespace, rs["metadata"]["name"]))

    def tick(self) -> None:
        if self._resync.due():
            self.resync(self._queue, self._rs)
        due = list(self._queue.pop_due(self.clock.now()))
        # Scale-downs first: when one tick brings an old ReplicaSet's scale-down and a new
        # one's scale-up (a rolling update), Pods never outnumber the replicas asked for.
        growing = [key for key in due if self._sync(*key, create=False)]
        for key in growing:
            self._sync(*key, create=True)

    # -------------------------------------------------------------------- syncing

    def _sync(self, namespace: str, name: str, *, create: bool) -> bool:
        """Bring one ReplicaSet to its replicas; with ``create=False`` only delete Pods and
        return whether some are missing."""
        rs = self.get_or_none(self._rs, namespace, name)
        if rs is None:
            return False
        owned = self._claim(rs)
        missing = False
        if not rs["metadata"].get("deletionTimestamp"):
            active = [pod for pod in owned if kubelet.is_active(pod)]
            wanted = int((rs.get("spec") or {}).get("replicas", 1))
            missing = len(active) < wanted
            if missing and create:
                for _ in range(wanted - len(active)):
                    if not self._create_pod(rs):
                        break
            elif len(active) > wanted:
                for pod in sorted(active, key=_deletion_rank)[: len(active) - wanted]:
                    self.delete_if_same(self._pods, pod)
            if len(active) != wanted:
                owned = self._claim(rs)
        self._write_status(rs, owned)
        return missing

    def _claim(self, rs: Obj) -> list[Obj]:
        """The Pods ``rs`` controls, after adopting matching orphans and releasing the Pods
        that no longer match its selector."""
        selector = _selector(rs)
        return garbage.claim(
            self,
            self._pods,
            rs,
            self.store.list(self._pods, rs["metadata"]["namespace"])[0],
            matches=lambda pod: not selector.empty and selector.matches(_labels(pod)),
            adoptable=kubelet.is_active,
        )

    def _create_pod(self, rs: Obj) -> bool:
        template = (rs.get("spec") or {}).get("template") or {}
        template_meta = template.get("metadata") or {}
        meta: Obj = {
            "generateName": f"{rs['metadata']['name']}-",
            "namespace": rs["metadata"]["namespace"],
            "labels": dict(template_meta.get("labels") or {}),
            "ownerReferences": [garbage.owner_reference(rs)],
        }
        if template_meta.get("annotations"):
            meta["annotations"] = dict(template_meta["annotations"])
        body = {"metadata": meta, "spec": clone(template.get("spec") or {})}
        try:
            self.store.create(self._pods, rs["metadata"]["namespace"], body)
        except errors.ApiError as exc:
            if exc.code in (404, 409, 422):  # namespace gone, or a template the API rejects
                return False
            raise
        return True

    def _write_status(self, rs: Obj, owned: list[Obj]) -> None:
        spec = rs.get("spec") or {}
        now = self.clock.now()
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        active = [pod for pod in owned if kubelet.is_active(pod)]
        available = 0
        for pod in active:
            at = available_since(pod, min_ready)
            if at is not None and at <= now:
                available += 1
            elif at is not None:
                self._queue.enqueue(key_of(rs), at)
        counts = {
            "fullyLabeledReplicas": sum(
                1 for pod in active if template_labels.items() <= _labels(pod).items()
            ),
            "readyReplicas": sum(1 for pod in active if kubelet.is_ready(pod)),
            "availableReplicas": available,
        }
        status: Obj = {k: v for k, v in (rs.get("status") or {}).items() if k not in counts}
        status["replicas"] = len(active)
        status.update({k: v for k, v in counts.items() if v})
        status["observedGeneration"] = rs["metadata"].get("generation", 1)
        if status != rs.get("status"):
            self.replace_status(self._rs, rs, status)


def _selector(rs: Obj) -> LabelSelector:
    """The ReplicaSet's selector; an unreadable one selects nothing (empty result)."""
    try:
        return label_selector_from_object((rs.get("spec") or {}).get("selector") or {})
    except SelectorError:
        return LabelSelector()
