"""The garbage collector: what kube-controller-manager does with ``ownerReferences``.

- Background: a dependent whose owners are all gone is deleted; one that still has a live owner
  only loses the references to the dead ones.
- Foreground: an owner marked for deletion with the ``foregroundDeletion`` finalizer gets its
  dependents deleted (in foreground too, when they own objects themselves); once no dependent
  with ``blockOwnerDeletion`` remains, the finalizer is removed and the store lets the owner go.
- Orphan: an owner marked with the ``orphan`` finalizer has its references removed from every
  dependent, then the finalizer.

The collector keeps a graph (uid -> object, owner uid -> dependents) built from the change
stream, acts on what changed, and re-checks the whole graph about once a second to heal a write
that failed. It reads and writes only metadata (``ownerReferences``, ``finalizers``) and deletes
objects; it knows no kind in particular. The small ``ownerReferences`` helpers the workload
controllers share live here too, with :func:`claim`, how a workload controller adopts and
releases the objects its selector matches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from local.sim import errors
from local.sim.controllers.base import Controller, Every, Settings
from local.sim.events import DELETED, Event
from local.sim.objects import Obj
from local.sim.resources import ResourceType
from local.sim.store import Store

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
RESCAN_SECONDS = 1.0
"""Real seconds between two checks of the whole graph."""

# ---------------------------------------------------------------------------- ownerReferences


def owner_references(obj: Obj) -> list[dict[str, Any]]:
    refs = obj["metadata"].get("ownerReferences") or []
    return [ref for ref in refs if isinstance(ref, dict)]


def controller_of(obj: Obj) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in owner_references(obj):
        if ref.get("controller"):
            return ref
    return None


def controlled_by(obj: Obj, owner_uid: str) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == owner_uid


def owner_reference(owner: Obj) -> dict[str, Any]:
    """A controller reference to ``owner`` (an object as the store returns it), blocking its
    foreground deletion, as workload controllers write them."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def without_owner(obj: Obj, owner_uids: set[str]) -> Obj:
    """``obj`` (modified in place) without references to the given owners."""
    kept = [ref for ref in owner_references(obj) if ref.get("uid") not in owner_uids]
    if kept:
        obj["metadata"]["ownerReferences"] = kept
    else:
        obj["metadata"].pop("ownerReferences", None)
    return obj


def with_controller(obj: Obj, owner: Obj) -> Obj:
    """``obj`` (modified in place) with a controller reference to ``owner``, unless it has a
    controller already."""
    if controller_of(obj) is None:
        obj["metadata"].setdefault("ownerReferences", []).append(owner_reference(owner))
    return obj


def claim(
    controller: Controller,
    rt: ResourceType,
    owner: Obj,
    candidates: Iterable[Obj],
    *,
    matches: Callable[[Obj], bool],
    adoptable: Callable[[Obj], bool],
) -> list[Obj]:
    """Kubernetes' ``ClaimObject``: the ``candidates`` (objects of ``rt``) that ``owner``
    controls, after adopting the orphans it ``matches`` (those ``adoptable``, unless ``owner``
    is being deleted) and releasing the ones it controls but no longer matches."""
    uid = owner["metadata"]["uid"]
    deleting = bool(owner["metadata"].get("deletionTimestamp"))
    owned = []
    for obj in candidates:
        ref = controller_of(obj)
        matched = matches(obj)
        if ref is None and matched and not deleting and adoptable(obj):
            adopted = controller.patch_if_same(rt, obj, lambda o: with_controller(o, owner))
            if adopted is not None and controlled_by(adopted, uid):
                owned.append(adopted)
        elif ref is not None and ref.get("uid") == uid:
            if matched:
                owned.append(obj)
            else:
                controller.patch_if_same(rt, obj, lambda o: without_owner(o, {uid}))
    return owned


# ---------------------------------------------------------------------------- the graph


@dataclass(frozen=True)
class _Owner:
    uid: str
    api_version: str
    kind: str
    name: str
    blocks: bool


@dataclass(frozen=True)
class _Node:
    uid: str
    key: tuple[str, str]
    namespace: str | None
    name: str
    owners: tuple[_Owner, ...]
    finalizers: frozenset[str]
    deleting: bool

    @staticmethod
    def of(event: Event) -> _Node:
        meta = event.obj["metadata"]
        owners = tuple(
            _Owner(
                str(ref.get("uid", "")),
                str(ref.get("apiVersion", "")),
                str(ref.get("kind", "")),
                str(ref.get("name", "")),
                bool(ref.get("blockOwnerDeletion")),
            )
            for ref in owner_references(event.obj)
        )
        return _Node(
            meta.get("uid", ""),
            event.key,
            meta.get("namespace") or None,
            meta["name"],
            owners,
            frozenset(meta.get("finalizers") or ()),
            bool(meta.get("deletionTimestamp")),
        )

    @property
    def owner_uids(self) -> set[str]:
        return {owner.uid for owner in self.owners}


class GarbageCollector(Controller):
    """Deletes dependents of deleted owners and serves foreground and orphan deletion."""

    kinds = ()  # every kind can own and be owned

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(store, settings)
        self._nodes: dict[str, _Node] = {}
        self._dependents: dict[str, set[str]] = {}
        self._dirty: set[str] = set()
        self._rescan = Every(RESCAN_SECONDS)

    # -------------------------------------------------------------------- the graph

    def handle(self, event: Event) -> None:
        uid = event.obj["metadata"].get("uid")
        if not uid:
            return
        old = self._nodes.pop(uid, None)
        if old is not None:
            for owner in old.owner_uids:
                self._dependents.get(owner, set()).discard(uid)
                self._dirty.add(owner)  # a foreground owner may stop waiting
        if event.type == DELETED:
            self._dirty.update(self._dependents.get(uid, ()))
            self._dirty.discard(uid)
            if not self._dependents.get(uid):
                self._dependents.pop(uid, None)
            return
        node = _Node.of(event)
        self._nodes[uid] = node
        for owner in node.owner_uids:
            self._dependents.setdefault(owner, set()).add(uid)
        if node.owners or (node.deleting and node.finalizers & {FOREGROUND, ORPHAN}):
            self._dirty.add(uid)

    def tick(self) -> None:
        if self._rescan.due():
            self._dirty.update(
                uid
                for uid, node in self._nodes.items()
                if (node.deleting and node.finalizers & {FOREGROUND, ORPHAN})
                or (not node.deleting and any(o.uid not in self._nodes for o in node.owners))
            )
        while self._dirty:
            node = self._nodes.get(self._dirty.pop())
            if node is None:
                continue
            if node.deleting and ORPHAN in node.finalizers:
                self._orphan(node)
            elif node.deleting and FOREGROUND in node.finalizers:
                self._foreground(node)
            if node.owners and not node.deleting:
                self._collect(node)

    # -------------------------------------------------------------------- actions

    def _collect(self, node: _Node) -> None:
        """Delete ``node`` if all its owners are gone, or drop its references to dead ones."""
        dead = {owner.uid for owner in node.owners if not self._alive(owner, node)}
        if not dead:
            return
        if dead == node.owner_uids:
            self._delete(node, None)
        else:
            self._update(node, lambda obj: without_owner(obj, dead))

    def _alive(self, owner: _Owner, dependent: _Node) -> bool:
        if owner.uid in self._nodes:
            return True
        rt = self.store.registry.by_kind(owner.api_version, owner.kind)
        if rt is None:
            return False
        try:
            found = self.store.get(rt, dependent.namespace if rt.namespaced else None, owner.name)
        except errors.ApiError:
            return False
        return bool(found["metadata"].get("uid") == owner.uid)

    def _foreground(self, owner: _Node) -> None:
        waiting = False
        for uid in sorted(self._dependents.get(owner.uid, ())):
            dep = self._nodes.get(uid)
            if dep is None:
                continue
            if any(ref.uid == owner.uid and ref.blocks for ref in dep.owners):
                waiting = True
            if not dep.deleting:
                self._delete(dep, "Foreground" if self._dependents.get(dep.uid) else None)
        if not waiting:
            self._drop_finalizer(owner, FOREGROUND)

    def _orphan(self, owner: _Node) -> None:
        for uid in sorted(self._dependents.get(owner.uid, ())):
            dep = self._nodes.get(uid)
            if dep is not None:
                self._update(dep, lambda obj: without_owner(obj, {owner.uid}))
        self._drop_finalizer(owner, ORPHAN)

    def _drop_finalizer(self, node: _Node, finalizer: str) -> None:
        def drop(obj: Obj) -> Obj:
            kept = [f for f in obj["metadata"].get("finalizers") or () if f != finalizer]
            obj["metadata"]["finalizers"] = kept
            return obj

        self._update(node, drop)

    # -------------------------------------------------------------------- writing

    def _delete(self, node: _Node, propagation: str | None) -> None:
        self._quietly(
            lambda: self.store.delete(
                self.rt(*node.key),
                node.namespace,
                node.name,
                propagation=propagation,
                uid=node.uid,
            )
        )

    def _update(self, node: _Node, change: Callable[[Obj], Obj]) -> None:
        """Apply ``change`` to the object of ``node`` (if it is still that object)."""

        def guarded(obj: Obj) -> Obj:
            return change(obj) if obj["metadata"].get("uid") == node.uid else obj

        self._quietly(
            lambda: self.store.patch(self.rt(*node.key), node.namespace, node.name, guarded)
        )

    def _quietly(self, action: Callable[[], object]) -> None:
        """Run a write; a 404 (already gone) or a uid precondition conflict is no failure."""
        try:
            self.retry_on_conflict(action, attempts=3)
        except errors.ApiError as exc:
            if exc.code not in (404, 409):
                raise
