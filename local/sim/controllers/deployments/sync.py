"""The state of one pass over one Deployment, and the upkeep of its ReplicaSets.

:class:`Sync` claims the ReplicaSets a Deployment controls (adopting and releasing by selector),
tells the new one (the current template's) from the old ones, creates the new one under its
hashed name, keeps revision and replica annotations current, resizes ReplicaSets, and deletes
old ones beyond ``revisionHistoryLimit``. How many replicas each ReplicaSet should have is
decided by the strategies (``rolling``, ``recreate``, ``proportional``); the Deployment's
status by ``status``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from local.sim import errors
from local.sim.controllers import garbage
from local.sim.controllers.base import status_condition
from local.sim.controllers.deployments.conditions import new_condition, set_condition
from local.sim.controllers.deployments.fields import (
    DESIRED_REPLICAS,
    HASH_LABEL,
    MAX_REPLICAS,
    NOT_COPIED,
    REVISION,
    by_creation,
    is_rolling,
    progress_deadline,
    replicas_of,
    revision_of,
    same_template,
    selector_of,
    spec_of,
    status_count,
    surge_and_unavailable,
    template_hash,
)
from local.sim.objects import Obj, clone

if TYPE_CHECKING:
    from local.sim.controllers.deployments.controller import DeploymentController


class Sync:
    """One pass over one Deployment (Kubernetes' ``syncDeployment``): what it read, what it will
    write back, and the ReplicaSets it controls, kept current as the pass changes them."""

    def __init__(self, owner: DeploymentController, d: Obj) -> None:
        self.c = owner
        self.store = owner.store
        self.d = d
        self.name = d["metadata"]["name"]
        self.namespace = d["metadata"]["namespace"]
        self.now = owner.clock.now()
        self.status: Obj = clone(d.get("status") or {})  # what the pass will write back
        self.replicas = replicas_of(d)
        self.surge, self.unavailable = surge_and_unavailable(d)
        self.rss = self._claim()
        self.new: Obj | None = None
        self.olds: list[Obj] = []
        self._split()

    def _claim(self) -> list[Obj]:
        """The ReplicaSets this Deployment controls, adopting orphans its selector matches and
        releasing the ones it no longer matches."""
        selector = selector_of(self.d)
        owned = garbage.claim(
            self.c,
            self.c.rs_rt,
            self.d,
            self.store.list(self.c.rs_rt, self.namespace)[0],
            matches=lambda rs: (
                selector is not None and selector.matches(rs["metadata"].get("labels"))
            ),
            adoptable=lambda rs: not rs["metadata"].get("deletionTimestamp"),
        )
        return sorted(owned, key=by_creation)

    def _split(self) -> None:
        template = spec_of(self.d).get("template") or {}
        self.new = next(
            (rs for rs in self.rss if same_template(rs, template)),
            None,
        )
        self.olds = [rs for rs in self.rss if rs is not self.new]

    def _replace(self, rs: Obj, *, new: bool = False) -> None:
        """Record the latest version of a ReplicaSet of this Deployment (``new``: it is the
        ReplicaSet of the current template)."""
        uid = rs["metadata"]["uid"]
        others = [r for r in self.rss if r["metadata"]["uid"] != uid]
        self.rss = sorted([*others, rs], key=by_creation)
        if new or (self.new is not None and self.new["metadata"]["uid"] == uid):
            self.new = rs
        self.olds = [r for r in self.rss if r is not self.new]

    def _patch_rs(self, rs: Obj, change: Callable[[Obj], Obj]) -> Obj | None:
        return self.c.patch_if_same(self.c.rs_rt, rs, change)

    def _replica_annotations(self) -> dict[str, str]:
        return {
            DESIRED_REPLICAS: str(self.replicas),
            MAX_REPLICAS: str(self.replicas + self.surge),
        }

    def scale_rs(self, rs: Obj, replicas: int) -> bool:
        """Set a ReplicaSet's replicas (and the replica annotations); True if it changed."""
        annotations = rs["metadata"].get("annotations") or {}
        wanted = self._replica_annotations()
        resized = replicas_of(rs) != replicas
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

    def sync_revision(self, *, create: bool) -> None:
        """Kubernetes' ``getNewReplicaSet``: keep the new ReplicaSet's annotations and the
        Deployment's revision current, creating the new ReplicaSet if asked."""
        revision = max((revision_of(rs) for rs in self.olds), default=0) + 1
        if self.new is not None:
            new = self.new
            annotations = new["metadata"].get("annotations") or {}
            wanted = self._copied_annotations()
            if revision_of(new) < revision:
                wanted[REVISION] = str(revision)
            min_ready = spec_of(self.d).get("minReadySeconds", 0)
            if (
                any(annotations.get(k) != v for k, v in wanted.items())
                or spec_of(new).get("minReadySeconds", 0) != min_ready
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
                and progress_deadline(self.d) is not None
            ):
                message = f'Found new replica set "{new["metadata"]["name"]}"'
                set_condition(
                    self.status,
                    new_condition("Progressing", "True", "FoundNewReplicaSet", message, self.now),
                )
        elif create:
            self._create_new(revision)
        if self.new is not None:
            self._set_deployment_revision(str(revision_of(self.new)))

    def _copied_annotations(self) -> dict[str, str]:
        annotations = self.d["metadata"].get("annotations") or {}
        return {k: v for k, v in annotations.items() if k not in NOT_COPIED}

    def _create_new(self, revision: int) -> None:
        template = clone(spec_of(self.d).get("template") or {})
        collisions = int(self.status.get("collisionCount") or 0)
        digest = template_hash(template, collisions)
        labels = {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: digest}
        template.setdefault("metadata", {})["labels"] = labels
        selector = clone(spec_of(self.d).get("selector") or {})
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
                "minReadySeconds": spec_of(self.d).get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        body["spec"]["replicas"] = self.new_replicas(body)
        try:
            created = self.store.create(self.c.rs_rt, self.namespace, body)
        except errors.ApiError as exc:
            if exc.code != 409:
                raise
            existing = self.c.retry_on_conflict(
                lambda: self.store.get(self.c.rs_rt, self.namespace, name)
            )
            if (
                existing is not None
                and garbage.controlled_by(existing, self.d["metadata"]["uid"])
                and same_template(existing, spec_of(self.d).get("template") or {})
            ):
                self._replace(existing, new=True)
                return
            self.status["collisionCount"] = collisions + 1  # the next pass tries another name
            self.c.requeue(self.d, 0.0)
            return
        self._replace(created, new=True)
        if progress_deadline(self.d) is not None:
            message = f'Created new replica set "{name}"'
            set_condition(
                self.status,
                new_condition("Progressing", "True", "NewReplicaSetCreated", message, self.now),
            )

    def _set_deployment_revision(self, revision: str) -> None:
        if (self.d["metadata"].get("annotations") or {}).get(REVISION) == revision:
            return

        def annotate(obj: Obj) -> Obj:
            obj["metadata"].setdefault("annotations", {})[REVISION] = revision
            return obj

        updated = self.c.patch_if_same(self.c.deploy_rt, self.d, annotate)
        if updated is not None:
            self.d["metadata"] = updated["metadata"]

    def new_replicas(self, new: Obj) -> int:
        """Kubernetes' ``NewRSNewReplicas``: how big the new ReplicaSet may be now."""
        if not is_rolling(self.d):
            return self.replicas
        current = sum(replicas_of(rs) for rs in self.olds) + replicas_of(new)
        room = self.replicas + self.surge - current
        if room <= 0:
            return replicas_of(new)
        return replicas_of(new) + min(room, max(self.replicas - replicas_of(new), 0))

    def cleanup(self) -> None:
        """Delete old, empty ReplicaSets beyond ``revisionHistoryLimit``, oldest revision first."""
        limit = spec_of(self.d).get("revisionHistoryLimit")
        if limit is None:
            return
        alive = [rs for rs in self.olds if not rs["metadata"].get("deletionTimestamp")]
        extra = len(alive) - int(limit)
        if extra <= 0:
            return
        for rs in sorted(alive, key=lambda r: (revision_of(r), by_creation(r)))[:extra]:
            meta = rs["metadata"]
            if (
                status_count(rs, "replicas") != 0
                or replicas_of(rs) != 0
                or meta.get("generation", 1) > status_count(rs, "observedGeneration")
            ):
                continue
            self.c.delete_if_same(self.c.rs_rt, rs)
