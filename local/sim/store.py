"""The simulator's object store: what etcd and the API server's registry do together.

It keeps every object in memory under one lock and gives the API its semantics: a cluster-wide
monotonically increasing ``resourceVersion``, ``uid`` and ``creationTimestamp``,
``metadata.generation`` bumped on changes outside metadata and status, optimistic concurrency
(409 on a stale ``resourceVersion``), status subresource rules, finalizers and
``deletionTimestamp``. Each committed change goes to an :class:`~local.sim.events.EventLog`,
from which watches replay any retained ``resourceVersion`` (410 Gone beyond it); subscribing
happens here, under the same lock as the writes, filtering and fan-out there.

Stored objects are never mutated: an update stores a new dict. Objects handed out by ``get`` and
``list`` are private copies; objects carried by :class:`Event` are shared snapshots and must be
treated as read-only. Admission (defaulting and validation, then validators that see each whole
write, deletes included) is plugged in from outside; this module knows no kind in particular and
does no I/O.
"""

from __future__ import annotations

import base64
import builtins
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterator

from local.sim import errors
from local.sim.clock import Clock, SystemClock, rfc3339
from local.sim.events import ADDED, DELETED, MODIFIED, Event, EventLog, Watcher
from local.sim.objects import CollectionKey, Obj, ObjectKey, clone
from local.sim.resources import Registry, ResourceType
from local.sim.selectors import FieldSelector, LabelSelector
from local.sim.writes import CREATE, DELETE, UPDATE, Mutation, Validator, Write

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Store:
    """All objects of the simulated cluster, with the API server's write semantics."""

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        clock: Clock | None = None,
        history: int = 10_000,
        admission: Mutation | None = None,
    ) -> None:
        self.registry = registry or Registry()
        self.clock = clock or SystemClock()
        self.admission = admission
        self._lock = threading.RLock()
        self._rv = 0
        self._objects: dict[CollectionKey, dict[ObjectKey, Obj]] = {}
        self._events = EventLog(self._lock, history)
        self._after_commit: list[Callable[[Event], None]] = []
        self._validators: list[Validator] = []
        self._names = itertools.count(1)
        for ns in DEFAULT_NAMESPACES:
            self.create(self._rt("", "namespaces"), None, {"metadata": {"name": ns}})

    # ----------------------------------------------------------------------------- helpers

    def _rt(self, group: str, plural: str) -> ResourceType:
        found = self.registry.versions_of(group, plural)
        if not found:
            raise errors.page_not_found(f"{group}/{plural}")
        return found[0]

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    def on_commit(self, hook: Callable[[Event], None]) -> None:
        """Run ``hook`` (under the store lock, so keep it short) after every committed change."""
        self._after_commit.append(hook)

    def add_validator(self, validator: Validator) -> None:
        """Have ``validator`` see every write (under the store lock) before it is committed."""
        self._validators.append(validator)

    def _validate(self, write: Write) -> None:
        for validator in self._validators:
            validator(write)

    def _collection(self, rt: ResourceType) -> dict[ObjectKey, Obj]:
        return self._objects.setdefault(rt.key, {})

    def _out(self, rt: ResourceType, obj: Obj) -> Obj:
        copy: Obj = clone(obj)
        copy["apiVersion"] = rt.api_version
        copy["kind"] = rt.kind
        return copy

    def _commit(self, rt: ResourceType, kind: str, obj: Obj, old: Obj | None) -> Event:
        self._rv += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self._rv)
        key = (meta.get("namespace") or "", meta["name"])
        if kind == DELETED:
            self._collection(rt).pop(key, None)
        else:
            self._collection(rt)[key] = obj
        event = Event(kind, rt.key, self._rv, obj, old)
        self._events.record(event)
        for hook in self._after_commit:
            hook(event)
        return event

    def _find(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self._collection(rt).get((namespace or "", name))
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return obj

    def _check_namespace(self, rt: ResourceType, namespace: str | None, name: str) -> str | None:
        """The namespace a new object goes to: it must exist and not be being deleted."""
        if not rt.namespaced:
            return None
        if not namespace:
            raise errors.bad_request("a namespace is required for a namespaced resource")
        ns_rt = self._rt("", "namespaces")
        found = self._collection(ns_rt).get(("", namespace))
        if found is None:
            raise errors.not_found("namespaces", "", namespace)
        if found["metadata"].get("deletionTimestamp"):
            raise errors.namespace_terminating(rt.plural, rt.group, name, namespace)
        return namespace

    @staticmethod
    def _held(rt: ResourceType, obj: Obj) -> bool:
        """Whether finalizers keep an object that is being deleted."""
        if obj["metadata"].get("finalizers"):
            return True
        return rt.spec_finalizers and bool((obj.get("spec") or {}).get("finalizers"))

    @staticmethod
    def _without(obj: Obj, *fields: str) -> Obj:
        return {k: v for k, v in obj.items() if k not in fields}

    # ----------------------------------------------------------------------------- reads

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        with self._lock:
            return self._out(rt, self._find(rt, namespace if rt.namespaced else None, name))

    def list(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> tuple[list[Obj], str, str | None]:
        """Matching objects ordered by namespace and name, the list's resourceVersion, and a
        continue token when ``limit`` cut the list short."""
        start: ObjectKey | None = None
        if continue_token:
            try:
                after_ns, after_name = json.loads(base64.urlsafe_b64decode(continue_token))["start"]
                start = (str(after_ns), str(after_name))
            except (ValueError, KeyError, TypeError) as exc:
                raise errors.bad_request(f"invalid continue token: {exc}") from None
        with self._lock:
            rv = str(self._rv)
            items: list[tuple[ObjectKey, Obj]] = []
            for key in sorted(self._collection(rt)):
                if start is not None and key <= start:
                    continue
                obj = self._collection(rt)[key]
                if rt.namespaced and namespace and key[0] != namespace:
                    continue
                meta = obj["metadata"]
                if labels is not None and not labels.matches(meta.get("labels") or {}):
                    continue
                if fields is not None and not fields.matches(obj):
                    continue
                if limit and len(items) == limit:
                    token = json.dumps({"start": list(items[-1][0])}).encode()
                    return (
                        [self._out(rt, o) for _, o in items],
                        rv,
                        base64.urlsafe_b64encode(token).decode(),
                    )
                items.append((key, obj))
            return [self._out(rt, o) for _, o in items], rv, None

    def all_objects(self) -> Iterator[tuple[ResourceType, Obj]]:
        """Every stored object (copies), for controllers that scan the whole cluster."""
        with self._lock:
            snapshot = [
                (rt, obj)
                for rt in self.registry.all()
                for obj in self._objects.get(rt.key, {}).values()
                if rt is self.registry.versions_of(*rt.key)[0]
            ]
        for rt, obj in snapshot:
            yield rt, self._out(rt, obj)

    # ----------------------------------------------------------------------------- writes

    def create(
        self, rt: ResourceType, namespace: str | None, body: Obj, *, dry_run: bool = False
    ) -> Obj:
        """POST. With ``dry_run`` (``?dryRun=All``) everything but the commit happens: the
        result is what would be stored, without a resourceVersion, and nobody is told."""
        obj: Obj = clone(body)
        if rt.status:
            obj.pop("status", None)  # status is the controllers' to write, never the creator's
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        body_ns = meta.get("namespace")
        with self._lock:
            namespace = self._check_namespace(rt, namespace or body_ns, meta.get("name") or "")
            if rt.namespaced and body_ns and body_ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            if not meta.get("name"):
                prefix = meta.get("generateName")
                if not prefix:
                    raise errors.invalid(
                        rt.kind,
                        rt.group,
                        "",
                        [("metadata.name", "Required value: name or generateName is required")],
                    )
                meta["name"] = self._generate_name(rt, namespace, prefix)
            name = meta["name"]
            if (namespace or "", name) in self._collection(rt):
                raise errors.already_exists(rt.plural, rt.group, name)
            if namespace is not None:
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = rfc3339(self.clock.now())
            for server_field in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
                meta.pop(server_field, None)
            if rt.generation:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
            if self.admission is not None:
                self.admission(rt, obj, None)
            self._validate(Write.of(CREATE, rt, obj, None, None, dry_run))
            if not dry_run:
                self._commit(rt, ADDED, obj, None)
            return self._out(rt, obj)

    def _generate_name(self, rt: ResourceType, namespace: str | None, prefix: str) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        for _ in range(100):
            suffix = "".join(alphabet[b % len(alphabet)] for b in uuid.uuid4().bytes[:5])
            name = f"{prefix[:58]}{suffix}"
            if (namespace or "", name) not in self._collection(rt):
                return name
        raise errors.ApiError(500, "InternalError", "could not generate a unique name")

    def replace(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """PUT: replace the object (or only its status with ``subresource="status"``)."""
        new: Obj = clone(body)
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata is required")
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        with self._lock:
            old = self._find(rt, namespace if rt.namespaced else None, name)
            wanted = meta.get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.stale(rt.plural, rt.group, name)
            if not wanted and rt.crd is not None:
                raise errors.invalid(
                    rt.kind,
                    rt.group,
                    name,
                    [
                        (
                            "metadata.resourceVersion",
                            "Invalid value: 0x0: must be specified for an update",
                        )
                    ],
                )
            return self._update(rt, old, new, subresource, dry_run)

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        apply: Callable[[Obj], Obj],
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """PATCH: ``apply`` maps the current object to the patched one, under the lock, so a
        patch never loses a concurrent update. A ``resourceVersion`` the patch sets is a
        precondition."""
        with self._lock:
            old = self._find(rt, namespace if rt.namespaced else None, name)
            current = self._out(rt, old)
            new = apply(clone(current))
            if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
                raise errors.bad_request("the patched object is not a Kubernetes object")
            wanted = new["metadata"].get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.stale(rt.plural, rt.group, name)
            if new["metadata"].get("name", name) != name:
                raise errors.bad_request("a patch cannot change metadata.name")
            return self._update(rt, old, new, subresource, dry_run)

    def _update(
        self, rt: ResourceType, old: Obj, new: Obj, subresource: str | None, dry_run: bool
    ) -> Obj:
        name = old["metadata"]["name"]
        if subresource == "status":
            merged = dict(old)
            merged["status"] = new.get("status")
            if merged["status"] is None:
                merged.pop("status")
            merged["metadata"] = dict(old["metadata"])
            new = clone(merged)
        elif subresource not in (None, "scale"):
            raise errors.page_not_found(f"{rt.plural}/{subresource}")
        else:
            if rt.status:
                if "status" in old:
                    new["status"] = clone(old["status"])
                else:
                    new.pop("status", None)
            new_meta = new["metadata"]
            old_meta = old["metadata"]
            for kept in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "namespace",
                "name",
                "deletionGracePeriodSeconds",
                "generation",
            ):
                if kept in old_meta:
                    new_meta[kept] = old_meta[kept]
                else:
                    new_meta.pop(kept, None)
            if old_meta.get("deletionTimestamp") and set(new_meta.get("finalizers") or ()) - set(
                old_meta.get("finalizers") or ()
            ):
                raise errors.ApiError(
                    422,
                    "Invalid",
                    f'{rt.kind} "{name}" is invalid: metadata.finalizers: Forbidden: no new '
                    "finalizers can be added if the object is being deleted",
                )
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        if self.admission is not None:  # defaults first: a default written out is no change
            self.admission(rt, new, old)
        if rt.generation:
            skip = ("metadata", "status") if rt.status else ("metadata",)
            if self._without(new, *skip) != self._without(old, *skip):
                new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        self._validate(Write.of(UPDATE, rt, new, old, subresource, dry_run))
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return self._out(rt, old)  # a no-op write keeps the resourceVersion, as etcd does
        if dry_run:
            return self._out(rt, new)
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not self._held(rt, new):
            self._commit(rt, DELETED, new, old)
        else:
            self._commit(rt, MODIFIED, new, old)
        return self._out(rt, new)

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        *,
        propagation: str | None = None,
        uid: str | None = None,
        resource_version: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """DELETE: remove the object, or mark it (deletionTimestamp) while finalizers remain.
        Foreground and Orphan propagation add the matching finalizer for the garbage collector."""
        with self._lock:
            old = self._find(rt, namespace if rt.namespaced else None, name)
            meta = old["metadata"]
            if uid and uid != meta["uid"]:
                raise errors.conflict(
                    rt.plural,
                    rt.group,
                    name,
                    f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                    f"{meta['uid']}",
                )
            if resource_version and resource_version != meta["resourceVersion"]:
                raise errors.conflict(
                    rt.plural,
                    rt.group,
                    name,
                    "Precondition failed: ResourceVersion in precondition: "
                    f"{resource_version}, ResourceVersion in object meta: "
                    f"{meta['resourceVersion']}",
                )
            self._validate(Write.of(DELETE, rt, None, old, None, dry_run))
            finalizers = list(meta.get("finalizers") or ())
            extra = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(propagation or "")
            if extra and extra not in finalizers:
                finalizers.append(extra)
            marked: Obj = clone(old)
            if finalizers:
                marked["metadata"]["finalizers"] = finalizers
            if not self._held(rt, marked):
                gone: Obj = clone(old)
                if not dry_run:
                    self._commit(rt, DELETED, gone, old)
                return self._out(rt, gone)
            marked["metadata"].setdefault("deletionTimestamp", rfc3339(self.clock.now()))
            marked["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            if marked == old:
                return self._out(rt, old)
            if not dry_run:
                self._commit(rt, MODIFIED, marked, old)
            return self._out(rt, marked)

    def purge(self, rt: ResourceType) -> None:
        """Remove every object of a type at once (its CRD was deleted)."""
        with self._lock:
            for obj in list(self._collection(rt).values()):
                self._commit(rt, DELETED, clone(obj), obj)

    # ----------------------------------------------------------------------------- watch

    def watch(
        self,
        rt: ResourceType | None,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> tuple[Watcher, builtins.list[Event]]:  # ``list`` is a method here
        """Subscribe to changes. Returns the watcher and the events to deliver first: with a
        ``resource_version``, every retained change after it (410 Gone if it is too old);
        without one (or "0"), a synthetic ADDED for each existing object."""
        with self._lock:
            watcher = self._events.watcher(rt.key if rt else None, namespace, labels, fields)
            backlog: list[Event] = []
            if resource_version and resource_version != "0":
                try:
                    since = int(resource_version)
                except ValueError:
                    raise errors.bad_request(
                        f"invalid resourceVersion {resource_version!r}"
                    ) from None
                backlog = self._events.since(watcher, since)
            elif rt is not None:
                for obj in self._collection(rt).values():
                    synthetic = Event(
                        ADDED, rt.key, int(obj["metadata"]["resourceVersion"]), obj, None
                    )
                    seen = watcher.translate(synthetic)
                    if seen is not None:
                        backlog.append(seen)
                backlog.sort(key=lambda e: e.rv)
            self._events.subscribe(watcher)
            return watcher, backlog

    @property
    def watcher_count(self) -> int:
        """How many watches are open, of every type."""
        return self._events.watcher_count
