"""The Deployment controller: rolls a Deployment's pod template out through ReplicaSets.

It follows kube-controller-manager's algorithm closely, because Ferry drives Deployments and
reads back exactly these fields:

- one ReplicaSet per pod template, named ``<deployment>-<hash>``, the hash also stamped as the
  ``pod-template-hash`` label on the ReplicaSet, its selector and its template; ReplicaSets
  carry a controller ownerReference and the annotations ``deployment.kubernetes.io/revision``,
  ``desired-replicas`` and ``max-replicas``; the Deployment carries the current revision;
- RollingUpdate (``maxSurge`` rounded up, ``maxUnavailable`` rounded down, unavailable 1 when
  both are 0) scales the new ReplicaSet up and old ones down as Pods become available; Recreate
  scales old ones to 0, waits for their Pods to go, then scales the new one up; a change of
  ``spec.replicas`` alone is spread proportionally; ``spec.paused`` stops the rollout;
- status counts, the ``Available`` and ``Progressing`` conditions (with
  ``ProgressDeadlineExceeded``) and ``observedGeneration``; old ReplicaSets beyond
  ``revisionHistoryLimit`` are deleted.

Pods are the ReplicaSet controller's business: this module writes Deployments (status and the
revision annotation) and ReplicaSets only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from local.sim import errors
from local.sim.clock import parse_rfc3339, rfc3339
from local.sim.controllers import garbage, kubelet
from local.sim.controllers.base import (
    RESYNC_SECONDS,
    Controller,
    DueQueue,
    Every,
    Key,
    Settings,
    key_of,
    status_condition,
)
from local.sim.selectors import LabelSelector, SelectorError, label_selector_from_object
from local.sim.store import DELETED, Event, Obj, Store, clone

REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
_NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)
_NO_DEADLINE = 2**31 - 1
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"

# ---------------------------------------------------------------------------- pure helpers


def canonical(value: Any) -> Any:
    """``value`` without nulls, empty objects and empty lists: what Kubernetes' typed objects
    cannot tell apart from absent fields (``creationTimestamp: null``, ``resources: {}``)."""
    if isinstance(value, dict):
        kept = {k: canonical(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def template_hash(template: Obj, collision_count: int = 0) -> str:
    """A stable 10-character name-safe hash of a pod template: FNV-1a (32 bit) over its
    canonical JSON, rendered like Kubernetes' ``SafeEncodeString``."""
    text = json.dumps(canonical(template), sort_keys=True, separators=(",", ":"))
    if collision_count:
        text += str(collision_count)
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in f"{value:010d}")


def scaled(value: Any, total: int, *, round_up: bool) -> int:
    """An int-or-percent (``2``, ``"25%"``) resolved against ``total``."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        try:
            share = float(text[:-1]) * total / 100
        except ValueError:
            return 0
        return math.ceil(share) if round_up else math.floor(share)
    try:
        return int(text)
    except ValueError:
        return 0


def _spec(obj: Obj) -> Obj:
    spec: Obj = obj.get("spec") or {}
    return spec


def _replicas(obj: Obj) -> int:
    return int(_spec(obj).get("replicas", 1))


def _status(obj: Obj, field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


def _rolling(d: Obj) -> bool:
    strategy: Obj = _spec(d).get("strategy") or {}
    return bool(strategy.get("type", "RollingUpdate") == "RollingUpdate")


def surge_and_unavailable(d: Obj) -> tuple[int, int]:
    """``maxSurge`` and ``maxUnavailable`` in Pods (0 and 0 for Recreate)."""
    if not _rolling(d):
        return 0, 0
    rolling = (_spec(d).get("strategy") or {}).get("rollingUpdate") or {}
    replicas = _replicas(d)
    surge = scaled(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = scaled(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def _revision(rs: Obj) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def _created(rs: Obj) -> tuple[str, str]:
    return (rs["metadata"].get("creationTimestamp", ""), rs["metadata"]["name"])


def _same_template(rs: Obj, template: Obj) -> bool:
    """Kubernetes' ``EqualIgnoreHash``: the ReplicaSet's template is ``template``, apart from
    the ``pod-template-hash`` label."""
    copy: Obj = clone(_spec(rs).get("template") or {})
    labels = (copy.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return bool(canonical(copy) == canonical(template))


def _available(rs: Obj) -> int:
    """Available Pods, never more than asked for (status may lag a scale-down)."""
    return min(_status(rs, "availableReplicas"), _replicas(rs))


def _set_condition(status: Obj, cond: Obj) -> None:
    """Kubernetes' ``SetDeploymentCondition``: same status and reason change nothing; same
    status keeps the transition time; the condition goes last."""
    current = status_condition(status, cond["type"])
    if current and current["status"] == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current and current["status"] == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime")
    others = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]]
    status["conditions"] = [*others, cond]


def _new_condition(kind: str, value: str, reason: str, message: str, now: float) -> Obj:
    stamp = rfc3339(now)
    return {
        "type": kind,
        "status": value,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def _deadline(d: Obj) -> int | None:
    seconds = _spec(d).get("progressDeadlineSeconds")
    return None if seconds is None or seconds == _NO_DEADLINE else int(seconds)


def _selector(obj: Obj) -> LabelSelector | None:
    try:
        selector = label_selector_from_object(_spec(obj).get("selector") or {})
    except SelectorError:
        return None
    return None if selector.empty else selector


# ---------------------------------------------------------------------------- the controller


class DeploymentController(Controller):
    """Creates, scales and cleans up the ReplicaSets of each Deployment; reports its status."""

    kinds = (("apps", "deployments"), ("apps", "replicasets"), ("", "pods"))

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(store, settings)
        self._deploy = self.rt("apps", "deployments")
        self._rs = self.rt("apps", "replicasets")
        self._pods = self.rt("", "pods")
        self._queue: DueQueue[Key] = DueQueue()
        self._resync = Every(RESYNC_SECONDS)

    # -------------------------------------------------------------------- queueing

    def handle(self, event: Event) -> None:
        meta = event.obj["metadata"]
        namespace = meta.get("namespace", "")
        if event.key == self._deploy.key:
            self._queue.enqueue((namespace, meta["name"]))
        elif event.key == self._rs.key:
            for rs in (event.obj, event.old):
                if rs is not None:
                    self._enqueue_owner(rs)
        elif event.type == DELETED:  # Recreate waits for old Pods to be gone
            ref = garbage.controller_of(event.obj)
            if ref is not None and ref.get("kind") == "ReplicaSet":
                try:
                    rs = self.store.get(self._rs, namespace, str(ref.get("name")))
                except errors.ApiError:
                    return
                self._enqueue_owner(rs)

    def _enqueue_owner(self, rs: Obj) -> None:
        namespace = rs["metadata"].get("namespace", "")
        ref = garbage.controller_of(rs)
        if ref is not None:
            if ref.get("kind") == "Deployment":
                self._queue.enqueue((namespace, str(ref.get("name"))))
            return
        labels = rs["metadata"].get("labels") or {}
        for d in self.store.list(self._deploy, namespace)[0]:  # who might adopt it
            selector = _selector(d)
            if selector is not None and selector.matches(labels):
                self._queue.enqueue((namespace, d["metadata"]["name"]))

    def tick(self) -> None:
        if self._resync.due():
            self.resync(self._queue, self._deploy)
        for d in self.due_objects(self._queue, self._deploy, self.clock.now()):
            _Sync(self, d).run()

    def requeue(self, d: Obj, at: float) -> None:
        self._queue.enqueue(key_of(d), at)


class _Sync:
    """One pass over one Deployment (Kubernetes' ``syncDeployment``)."""

    def __init__(self, owner: DeploymentController, d: Obj) -> None:
        self.c = owner
        self.store = owner.store
        self.d = d
        self.name = d["metadata"]["name"]
        self.namespace = d["metadata"]["namespace"]
        self.now = owner.clock.now()
        self.status: Obj = clone(d.get("status") or {})  # what the pass will write back
        self.replicas = _replicas(d)
        self.surge, self.unavailable = surge_and_unavailable(d)
        self.rss = self._claim()
        self.new: Obj | None = None
        self.olds: list[Obj] = []
        self._split()

    # -------------------------------------------------------------------- the pass

    def run(self) -> None:
        if self.d["metadata"].get("deletionTimestamp"):
            self._write_status(rollout=False)
            return
        self._paused_condition()
        if _spec(self.d).get("paused") or self._scaling_event():
            self._sync_revision(create=False)
            self._scale()
            if _spec(self.d).get("paused"):
                self._cleanup()
            self._write_status(rollout=False)
        elif _rolling(self.d):
            self._rolling()
        else:
            self._recreate()

    def _rolling(self) -> None:
        self._sync_revision(create=True)
        if self.new is None:  # could not be created (a name collision): try again soon
            self._write_status(rollout=True)
            return
        if (
            not self._reconcile_new()
            and not self._reconcile_olds()
            and self._complete(self.d.get("status") or {})
        ):
            self._cleanup()
        self._write_status(rollout=True)

    def _recreate(self) -> None:
        self._sync_revision(create=False)
        scaled_down = False
        for rs in self.olds:
            if _replicas(rs) > 0:
                scaled_down |= self._scale_rs(rs, 0)
        if scaled_down or self._old_pods_running():
            self._write_status(rollout=True)
            return
        if self.new is None:
            self._sync_revision(create=True)
        if self.new is not None and _replicas(self.new) != self.replicas:
            self._scale_rs(self.new, self.replicas)
        if self._complete(self.d.get("status") or {}):
            self._cleanup()
        self._write_status(rollout=True)

    # -------------------------------------------------------------------- ReplicaSets

    def _claim(self) -> list[Obj]:
        """The ReplicaSets this Deployment controls, adopting orphans its selector matches and
        releasing the ones it no longer matches."""
        selector = _selector(self.d)
        owned = garbage.claim(
            self.c,
            self.c._rs,
            self.d,
            self.store.list(self.c._rs, self.namespace)[0],
            matches=lambda rs: (
                selector is not None and selector.matches(rs["metadata"].get("labels"))
            ),
            adoptable=lambda rs: not rs["metadata"].get("deletionTimestamp"),
        )
        return sorted(owned, key=_created)

    def _split(self) -> None:
        template = _spec(self.d).get("template") or {}
        self.new = next(
            (rs for rs in self.rss if _same_template(rs, template)),
            None,
        )
        self.olds = [rs for rs in self.rss if rs is not self.new]

    def _replace(self, rs: Obj, *, new: bool = False) -> None:
        """Record the latest version of a ReplicaSet of this Deployment (``new``: it is the
        ReplicaSet of the current template)."""
        uid = rs["metadata"]["uid"]
        others = [r for r in self.rss if r["metadata"]["uid"] != uid]
        self.rss = sorted([*others, rs], key=_created)
        if new or (self.new is not None and self.new["metadata"]["uid"] == uid):
            self.new = rs
        self.olds = [r for r in self.rss if r is not self.new]

    def _patch_rs(self, rs: Obj, change: Callable[[Obj], Obj]) -> Obj | None:
        return self.c.patch_if_same(self.c._rs, rs, change)

    def _replica_annotations(self) -> dict[str, str]:
        return {
            DESIRED_REPLICAS: str(self.replicas),
            MAX_REPLICAS: str(self.replicas + self.surge),
        }

    def _scale_rs(self, rs: Obj, replicas: int) -> bool:
        """Set a ReplicaSet's replicas (and the replica annotations); True if it changed."""
        annotations = rs["metadata"].get("annotations") or {}
        wanted = self._replica_annotations()
        resized = _replicas(rs) != replicas
        if not resized and all(annotations.get(k) == v for k, v in wanted.items()):
            return False

        def scale(obj: Obj) -> Obj:
            obj.setdefault("spec", {})["replicas"] = replicas
            obj["metadata"].setdefault("annotations", {}).update(wanted)
            return obj

        updated = self._patch_rs(rs, scale)
        if updated is not None:
            self._replace(updated)
        return resized

    def _sync_revision(self, *, create: bool) -> None:
        """Kubernetes' ``getNewReplicaSet``: keep the new ReplicaSet's annotations and the
        Deployment's revision current, creating the new ReplicaSet if asked."""
        revision = max((_revision(rs) for rs in self.olds), default=0) + 1
        if self.new is not None:
            new = self.new
            annotations = new["metadata"].get("annotations") or {}
            wanted = self._copied_annotations()
            if _revision(new) < revision:
                wanted[REVISION] = str(revision)
            min_ready = _spec(self.d).get("minReadySeconds", 0)
            if (
                any(annotations.get(k) != v for k, v in wanted.items())
                or _spec(new).get("minReadySeconds", 0) != min_ready
            ):

                def refresh(obj: Obj) -> Obj:
                    obj["metadata"].setdefault("annotations", {}).update(wanted)
                    obj.setdefault("spec", {})["minReadySeconds"] = min_ready
                    return obj

                updated = self._patch_rs(new, refresh)
                if updated is not None:
                    self._replace(updated)
            if (
                status_condition(self.status, "Progressing") is None
                and _deadline(self.d) is not None
            ):
                message = f'Found new replica set "{new["metadata"]["name"]}"'
                _set_condition(
                    self.status,
                    _new_condition("Progressing", "True", "FoundNewReplicaSet", message, self.now),
                )
        elif create:
            self._create_new(revision)
        if self.new is not None:
            self._set_deployment_revision(str(_revision(self.new)))

    def _copied_annotations(self) -> dict[str, str]:
        annotations = self.d["metadata"].get("annotations") or {}
        return {k: v for k, v in annotations.items() if k not in _NOT_COPIED}

    def _create_new(self, revision: int) -> None:
        template = clone(_spec(self.d).get("template") or {})
        collisions = int(self.status.get("collisionCount") or 0)
        digest = template_hash(template, collisions)
        labels = {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: digest}
        template.setdefault("metadata", {})["labels"] = labels
        selector = clone(_spec(self.d).get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = digest
        name = f"{self.name}-{digest}"
        body: Obj = {
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": dict(labels),
                "annotations": {
                    **self._copied_annotations(),
                    REVISION: str(revision),
                    **self._replica_annotations(),
                },
                "ownerReferences": [garbage.owner_reference(self.d)],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": _spec(self.d).get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        body["spec"]["replicas"] = self._new_replicas(body)
        try:
            created = self.store.create(self.c._rs, self.namespace, body)
        except errors.ApiError as exc:
            if exc.code != 409:
                raise
            existing = self.c.retry_on_conflict(
                lambda: self.store.get(self.c._rs, self.namespace, name)
            )
            if (
                existing is not None
                and garbage.controlled_by(existing, self.d["metadata"]["uid"])
                and _same_template(existing, _spec(self.d).get("template") or {})
            ):
                self._replace(existing, new=True)
                return
            self.status["collisionCount"] = collisions + 1  # the next pass tries another name
            self.c.requeue(self.d, 0.0)
            return
        self._replace(created, new=True)
        if _deadline(self.d) is not None:
            message = f'Created new replica set "{name}"'
            _set_condition(
                self.status,
                _new_condition("Progressing", "True", "NewReplicaSetCreated", message, self.now),
            )

    def _set_deployment_revision(self, revision: str) -> None:
        if (self.d["metadata"].get("annotations") or {}).get(REVISION) == revision:
            return

        def annotate(obj: Obj) -> Obj:
            obj["metadata"].setdefault("annotations", {})[REVISION] = revision
            return obj

        updated = self.c.patch_if_same(self.c._deploy, self.d, annotate)
        if updated is not None:
            self.d["metadata"] = updated["metadata"]

    # -------------------------------------------------------------------- rolling update

    def _new_replicas(self, new: Obj) -> int:
        """Kubernetes' ``NewRSNewReplicas``: how big the new ReplicaSet may be now."""
        if not _rolling(self.d):
            return self.replicas
        current = sum(_replicas(rs) for rs in self.olds) + _replicas(new)
        room = self.replicas + self.surge - current
        if room <= 0:
            return _replicas(new)
        return _replicas(new) + min(room, max(self.replicas - _replicas(new), 0))

    def _reconcile_new(self) -> bool:
        assert self.new is not None
        size = _replicas(self.new)
        if size == self.replicas:
            return False
        if size > self.replicas:
            return self._scale_rs(self.new, self.replicas)
        return self._scale_rs(self.new, self._new_replicas(self.new))

    def _reconcile_olds(self) -> bool:
        assert self.new is not None
        if sum(_replicas(rs) for rs in self.olds) == 0:
            return False
        total = sum(_replicas(rs) for rs in self.rss)
        min_available = self.replicas - self.unavailable
        new_unavailable = _replicas(self.new) - _available(self.new)
        budget = total - min_available - new_unavailable
        if budget <= 0:
            return False
        cleaned = 0
        for rs in list(self.olds):  # unhealthy replicas first, oldest ReplicaSet first
            if cleaned >= budget:
                break
            unhealthy = _replicas(rs) - _available(rs)
            if _replicas(rs) == 0 or unhealthy <= 0:
                continue
            step = min(budget - cleaned, unhealthy)
            self._scale_rs(rs, _replicas(rs) - step)
            cleaned += step
        available = sum(_available(rs) for rs in self.rss)
        allowed = available - min_available
        scaled = 0
        for rs in list(self.olds):
            if scaled >= allowed:
                break
            if _replicas(rs) == 0:
                continue
            step = min(_replicas(rs), allowed - scaled)
            self._scale_rs(rs, _replicas(rs) - step)
            scaled += step
        return cleaned + max(scaled, 0) > 0

    def _old_pods_running(self) -> bool:
        if any(_status(rs, "replicas") > 0 for rs in self.olds):
            return True
        old_uids = {rs["metadata"]["uid"] for rs in self.olds}
        for pod in self.store.list(self.c._pods, self.namespace)[0]:
            ref = garbage.controller_of(pod)
            if ref is not None and ref.get("uid") in old_uids and not kubelet.is_terminal(pod):
                return True
        return False

    # -------------------------------------------------------------------- scaling

    def _scaling_event(self) -> bool:
        for rs in self.rss:
            if _replicas(rs) <= 0:
                continue
            desired = (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
            if desired is not None and desired != str(self.replicas):
                return True
        return False

    def _scale(self) -> None:
        """Kubernetes' ``scale``: apply a new ``spec.replicas`` across the ReplicaSets."""
        active = [rs for rs in self.rss if _replicas(rs) > 0]
        if len(active) <= 1:
            target = active[0] if active else self.new or (self.olds[-1] if self.olds else None)
            if target is not None and _replicas(target) != self.replicas:
                self._scale_rs(target, self.replicas)
            return
        new = self.new
        if (
            new is not None
            and _replicas(new) == self.replicas
            and (new["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
            == str(self.replicas)
            and _status(new, "availableReplicas") == self.replicas
        ):
            for rs in active:
                if rs is not new:
                    self._scale_rs(rs, 0)
            return
        if not _rolling(self.d):
            return
        allowed = self.replicas + self.surge if self.replicas > 0 else 0
        to_add = allowed - sum(_replicas(rs) for rs in active)
        # Larger first; on ties newer first when growing, older first when shrinking.
        active.sort(key=_created, reverse=to_add > 0)
        active.sort(key=_replicas, reverse=True)
        sizes = []
        added = 0
        for rs in active:
            share = self._proportion(rs, to_add, added)
            sizes.append(_replicas(rs) + share)
            added += share
        if sizes and to_add:
            sizes[0] = max(sizes[0] + to_add - added, 0)
        for rs, size in zip(active, sizes, strict=True):
            self._scale_rs(rs, size)

    def _proportion(self, rs: Obj, to_add: int, added: int) -> int:
        if _replicas(rs) == 0 or to_add == 0 or to_add == added:
            return 0
        if self.replicas == 0:
            fraction = -_replicas(rs)
        else:
            try:
                before = int((rs["metadata"].get("annotations") or {}).get(MAX_REPLICAS, 0))
            except ValueError:
                before = 0
            before = before or _status(self.d, "replicas")
            if before == 0:
                return 0
            ideal = _replicas(rs) * (self.replicas + self.surge) / before
            fraction = math.floor(ideal + 0.5) - _replicas(rs)
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    # -------------------------------------------------------------------- history

    def _cleanup(self) -> None:
        limit = _spec(self.d).get("revisionHistoryLimit")
        if limit is None:
            return
        alive = [rs for rs in self.olds if not rs["metadata"].get("deletionTimestamp")]
        extra = len(alive) - int(limit)
        if extra <= 0:
            return
        for rs in sorted(alive, key=lambda r: (_revision(r), _created(r)))[:extra]:
            meta = rs["metadata"]
            if (
                _status(rs, "replicas") != 0
                or _replicas(rs) != 0
                or meta.get("generation", 1) > _status(rs, "observedGeneration")
            ):
                continue
            self.c.delete_if_same(self.c._rs, rs)

    # -------------------------------------------------------------------- status

    def _complete(self, status: Obj) -> bool:
        """Kubernetes' ``DeploymentComplete`` for ``status``."""
        return (
            int(status.get("updatedReplicas") or 0) == self.replicas
            and int(status.get("replicas") or 0) == self.replicas
            and int(status.get("availableReplicas") or 0) == self.replicas
            and int(status.get("observedGeneration") or 0)
            >= int(self.d["metadata"].get("generation", 1))
        )

    def _paused_condition(self) -> None:
        if _deadline(self.d) is None:
            return
        cond = status_condition(self.status, "Progressing")
        if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
            return
        paused = cond is not None and cond.get("reason") == "DeploymentPaused"
        if _spec(self.d).get("paused") and not paused:
            _set_condition(
                self.status,
                _new_condition(
                    "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", self.now
                ),
            )
        elif not _spec(self.d).get("paused") and paused:
            _set_condition(
                self.status,
                _new_condition(
                    "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", self.now
                ),
            )

    def _counts(self) -> Obj:
        """Kubernetes' ``calculateStatus`` (without conditions); zero counts are omitted."""
        available = sum(_status(rs, "availableReplicas") for rs in self.rss)
        counts = {
            "replicas": sum(_status(rs, "replicas") for rs in self.rss),
            "updatedReplicas": _status(self.new, "replicas") if self.new is not None else 0,
            "readyReplicas": sum(_status(rs, "readyReplicas") for rs in self.rss),
            "availableReplicas": available,
            "unavailableReplicas": max(sum(_replicas(rs) for rs in self.rss) - available, 0),
        }
        return counts

    def _write_status(self, *, rollout: bool) -> None:
        old = self.d.get("status") or {}
        status = {k: v for k, v in self.status.items() if k not in _COUNTS}
        counts = self._counts()
        status.update({k: v for k, v in counts.items() if v})
        status["observedGeneration"] = self.d["metadata"].get("generation", 1)
        if counts["availableReplicas"] >= self.replicas - self.unavailable:
            available = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            available = (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        _set_condition(status, _new_condition("Available", *available, self.now))
        if rollout:
            self._progress(status, old)
        if status != old:
            self._patch_status(status)

    def _progress(self, status: Obj, old: Obj) -> None:
        """Kubernetes' ``syncRolloutStatus``: the Progressing condition."""
        deadline = _deadline(self.d)
        if deadline is None:
            status["conditions"] = [
                c for c in status.get("conditions") or [] if c.get("type") != "Progressing"
            ]
            return
        current = status_condition(status, "Progressing")
        rs_name = self.new["metadata"]["name"] if self.new is not None else None
        subject = f'ReplicaSet "{rs_name}"' if rs_name else f'Deployment "{self.name}"'
        if (
            status.get("replicas", 0) == status.get("updatedReplicas", 0)
            and current is not None
            and current.get("reason") == "NewReplicaSetAvailable"
        ):
            return
        if self._complete(status):
            cond = _new_condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f"{subject} has successfully progressed.",
                self.now,
            )
            _set_condition(status, cond)
        elif self._progressing(status, old):
            cond = _new_condition(
                "Progressing", "True", "ReplicaSetUpdated", f"{subject} is progressing.", self.now
            )
            if current is not None and current["status"] == "True":
                cond["lastTransitionTime"] = current.get("lastTransitionTime")
            others = [c for c in status.get("conditions") or [] if c.get("type") != "Progressing"]
            status["conditions"] = [*others, cond]
        elif self._timed_out(current, deadline):
            cond = _new_condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f"{subject} has timed out progressing.",
                self.now,
            )
            _set_condition(status, cond)
        current = status_condition(status, "Progressing")
        if (
            current is not None
            and current.get("reason") not in ("NewReplicaSetAvailable", "ProgressDeadlineExceeded")
            and current.get("lastUpdateTime")
        ):
            self.c.requeue(self.d, parse_rfc3339(current["lastUpdateTime"]) + deadline + 0.01)

    def _progressing(self, status: Obj, old: Obj) -> bool:
        """Kubernetes' ``DeploymentProgressing``: any count moved the right way."""

        def count(s: Obj, field: str) -> int:
            return int(s.get(field) or 0)

        old_olds = count(old, "replicas") - count(old, "updatedReplicas")
        new_olds = count(status, "replicas") - count(status, "updatedReplicas")
        return (
            count(status, "updatedReplicas") > count(old, "updatedReplicas")
            or new_olds < old_olds
            or count(status, "readyReplicas") > count(old, "readyReplicas")
            or count(status, "availableReplicas") > count(old, "availableReplicas")
        )

    def _timed_out(self, current: Obj | None, deadline: int) -> bool:
        if current is None:
            return False
        if current.get("reason") == "ProgressDeadlineExceeded":
            return True
        if current.get("reason") == "NewReplicaSetAvailable" or not current.get("lastUpdateTime"):
            return False
        return parse_rfc3339(current["lastUpdateTime"]) + deadline < self.now

    def _patch_status(self, status: Obj) -> None:
        self.c.replace_status(self.c._deploy, self.d, status)


_COUNTS = (
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "unavailableReplicas",
    "observedGeneration",
)
