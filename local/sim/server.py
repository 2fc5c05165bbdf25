"""The simulator's HTTP face: the Kubernetes REST API over the in-memory store.

URL layout, verbs, content types, discovery documents, watch streams, Tables and Status error
bodies follow the real API server closely enough that the official client and ``kubectl`` work
unmodified. This module translates HTTP to store calls and back; it holds no state of its own
besides the open watch streams, and it knows nothing of particular kinds (see ``admission``).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from flask import Flask, Response, request

from local.sim import errors, openapi, patching, scaling, schemas, tables
from local.sim.resources import ResourceType
from local.sim.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from local.sim.store import Obj, Store, Watcher, clone

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-ferry-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23",
    "compiler": "gc",
    "platform": "linux/amd64",
}
BOOKMARK_EVERY = 1.0
"""Seconds between BOOKMARK events on a watch that asked for them."""
DEFAULT_WATCH_TIMEOUT = 1800.0
JSON = "application/json"


@dataclass(frozen=True)
class Target:
    """What a resource URL names."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype=JSON)


def _error(exc: errors.ApiError) -> Response:
    return _json(exc.status(), exc.code)


def hung_up(connection: socket.socket | None) -> bool:
    """Whether the client closed its end. A quiet watch writes nothing, so without this check
    it would hold its thread and subscription until its timeout (30 minutes by default)."""
    if connection is None:
        return False
    try:
        poller = select.poll()  # not select.select: it fails on descriptors above 1023
        poller.register(connection, select.POLLIN)
        return bool(poller.poll(0)) and connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # ValueError: the socket is already closed
        return True


class Api:
    """Routes every request of the Kubernetes API onto a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.stopping = threading.Event()
        self._streams: set[Watcher] = set()
        self._streams_lock = threading.Lock()

    def stop(self) -> None:
        """End every open watch stream now (the server is shutting down)."""
        self.stopping.set()
        with self._streams_lock:
            streams = list(self._streams)
        for watcher in streams:
            watcher.close()

    # ------------------------------------------------------------------------ app

    def app(self) -> Flask:
        app = Flask("ferry-sim")
        app.url_map.strict_slashes = False  # the official client asks for "/version/"
        app.add_url_rule("/", "root", self._root)
        app.add_url_rule("/version", "version", lambda: _json(SERVER_VERSION))
        for probe in ("healthz", "livez", "readyz"):
            app.add_url_rule(f"/{probe}", probe, lambda: Response("ok", mimetype="text/plain"))
        app.add_url_rule(
            "/<path:path>",
            "api",
            self._dispatch,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        )
        return app

    def _root(self) -> Response:
        paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]
        paths += [f"/apis/{g}" for g in self.store.registry.groups()]
        return _json({"paths": sorted(paths)})

    def _dispatch(self, path: str) -> Response:
        try:
            parts = [p for p in path.split("/") if p]
            if parts == ["api"]:
                return _json(
                    {
                        "kind": "APIVersions",
                        "versions": ["v1"],
                        "serverAddressByClientCIDRs": [
                            {"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}
                        ],
                    }
                )
            if parts == ["apis"]:
                return _json(self._group_list())
            if len(parts) == 2 and parts[0] == "apis":
                group = self._group(parts[1])
                if group is None:
                    raise errors.page_not_found(request.path)
                return _json(group)
            if parts == ["openapi", "v2"]:
                if "protobuf" in request.headers.get("Accept", ""):  # what client-go asks for
                    return Response(b"", mimetype=openapi.V2_PROTOBUF)  # an empty Document
                return _json(openapi.v2())
            if parts[:2] == ["openapi", "v3"]:
                return self._openapi("/".join(parts[2:]))
            if parts[:1] == ["api"] and len(parts) >= 2:
                return self._resource(("", parts[1]), parts[2:])
            if parts[:1] == ["apis"] and len(parts) >= 3:
                return self._resource((parts[1], parts[2]), parts[3:])
            raise errors.page_not_found(request.path)
        except errors.ApiError as exc:
            return _error(exc)

    # ------------------------------------------------------------------------ discovery

    def _openapi(self, gv: str) -> Response:
        if not gv:
            return _json(openapi.root(self.store.registry))
        doc = openapi.group_version(self.store.registry, gv)
        if doc is None:
            raise errors.page_not_found(request.path)
        return _json(doc)

    def _group(self, name: str) -> dict[str, Any] | None:
        versions = self.store.registry.groups().get(name)
        if not versions:
            return None
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": name,
            "versions": entries,
            "preferredVersion": entries[0],
        }

    def _group_list(self) -> dict[str, Any]:
        groups = [self._group(name) for name in self.store.registry.groups()]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        types = [
            rt for rt in self.store.registry.all() if (rt.group, rt.version) == (group, version)
        ]
        if not types:
            raise errors.page_not_found(request.path)
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [entry for rt in types for entry in rt.resource_list_entries()],
        }

    # ------------------------------------------------------------------------ resources

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        namespace = None
        if (
            len(rest) >= 3
            and rest[0] == "namespaces"
            and not (len(rest) == 3 and rest[2] in ("status", "finalize"))
        ):
            namespace, rest = rest[1], rest[2:]
        if not 1 <= len(rest) <= 3:
            raise errors.page_not_found(request.path)
        rt = self.store.registry.lookup(group, version, rest[0])
        if rt is None:
            raise errors.page_not_found(request.path)
        if namespace is not None and not rt.namespaced:
            raise errors.page_not_found(request.path)
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and not (
            (sub == "status" and rt.status) or (sub == "scale" and rt.scale is not None)
        ):
            raise errors.page_not_found(request.path)
        return Target(rt, namespace, name, sub)

    def _resource(self, group_version: tuple[str, str], rest: list[str]) -> Response:
        group, version = group_version
        if not rest:
            if request.method != "GET":
                raise errors.method_not_allowed(f"{request.method} is not allowed here")
            return _json(self._resource_list(group, version))
        target = self._target(group, version, rest)
        method = request.method
        if target.name is None:
            if method == "GET":
                if request.args.get("watch") in ("true", "1"):
                    return self._watch(target)
                return self._list(target)
            if method == "POST":
                return self._create(target)
            if method == "DELETE":
                return self._delete_collection(target)
            raise errors.method_not_allowed(f"{method} is not allowed on a collection")
        if target.subresource == "scale":
            return self._scale(target)
        if method == "GET":
            return self._respond(self.store.get(target.rt, target.namespace, target.name))
        if method == "PUT":
            body = self._strict(target.rt, self._body())
            return self._respond(
                self.store.replace(
                    target.rt,
                    target.namespace,
                    target.name,
                    self._checked(target.rt, body),
                    subresource=target.subresource,
                    dry_run=self._dry_run(),
                )
            )
        if method == "PATCH":
            return self._respond(self._patch(target))
        if method == "DELETE":
            options = self._delete_options()
            return self._respond(
                self.store.delete(
                    target.rt,
                    target.namespace,
                    target.name,
                    propagation=options.get("propagationPolicy"),
                    uid=(options.get("preconditions") or {}).get("uid"),
                    resource_version=(options.get("preconditions") or {}).get("resourceVersion"),
                    dry_run=self._dry_run(options),
                )
            )
        raise errors.method_not_allowed(f"{method} is not allowed on an object")

    def _respond(self, obj: Obj, status: int = 200) -> Response:
        if self._wants_table():
            return _json(self._table(self._rt_of(obj), [obj], {}), status)
        return _json(obj, status)

    def _rt_of(self, obj: Obj) -> ResourceType:
        rt = self.store.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rt is None:  # pragma: no cover - every stored object has a served type
            raise errors.ApiError(500, "InternalError", "object of an unknown type")
        return rt

    # ------------------------------------------------------------------------ bodies

    def _body(self) -> Obj:
        ctype = (request.mimetype or JSON).lower()
        raw = request.get_data()
        if "protobuf" in ctype:
            raise errors.unsupported_media_type(
                f"the body of the request was in an unknown format - accepted media types "
                f'include: application/json, application/yaml (got "{ctype}"); the Ferry '
                "simulator does not speak protobuf"
            )
        try:
            if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
                body = yaml.safe_load(raw)
            else:
                body = json.loads(raw or b"null")
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request(f"the request body could not be decoded: {exc}") from None
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON object")
        return body

    def _checked(self, rt: ResourceType, body: Obj) -> Obj:
        """The body's apiVersion and kind, when given, must be the URL's."""
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if (api_version and api_version != rt.api_version) or (kind and kind != rt.kind):
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.api_version})"
                if api_version != rt.api_version
                else f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        return body

    def _strict(self, rt: ResourceType, body: Obj) -> Obj:
        """``fieldValidation=Strict`` (kubectl's default) rejects fields a CRD's schema does not
        declare; otherwise they are pruned silently by admission, as the real server does."""
        if request.args.get("fieldValidation") == "Strict" and rt.schema is not None:
            unknown = schemas.prune(clone(body), rt.schema)
            if unknown:
                listed = ", ".join(f'unknown field "{path}"' for path in unknown)
                raise errors.bad_request(
                    f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                    f"strict decoding error: {listed}"
                )
        return body

    def _dry_run(self, options: dict[str, Any] | None = None) -> bool:
        """``?dryRun=All`` (or ``dryRun: [All]`` in DeleteOptions): validate, do not store."""
        values = request.args.getlist("dryRun") + list((options or {}).get("dryRun") or [])
        for value in values:
            if value != "All":
                raise errors.bad_request(
                    f'dryRun: Unsupported value: "{value}": supported values: "All"'
                )
        return bool(values)

    def _delete_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if request.get_data():
            options = self._body()
        if "propagationPolicy" in request.args:
            options["propagationPolicy"] = request.args["propagationPolicy"]
        if request.args.get("orphanDependents") == "true" or options.get("orphanDependents"):
            options.setdefault("propagationPolicy", "Orphan")
        policy = options.get("propagationPolicy")
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise errors.bad_request(f"unknown propagationPolicy {policy!r}")
        return options

    # ------------------------------------------------------------------------ verbs

    def _selectors(self) -> tuple[LabelSelector | None, FieldSelector | None]:
        try:
            labels = request.args.get("labelSelector")
            fields = request.args.get("fieldSelector")
            return (
                parse_label_selector(labels) if labels else None,
                parse_field_selector(fields) if fields else None,
            )
        except SelectorError as exc:
            raise errors.bad_request(str(exc)) from None

    def _list(self, target: Target) -> Response:
        labels, fields = self._selectors()
        limit = request.args.get("limit", type=int)
        items, rv, token = self.store.list(
            target.rt,
            target.namespace,
            labels=labels,
            fields=fields,
            limit=limit or None,
            continue_token=request.args.get("continue"),
        )
        metadata: dict[str, Any] = {"resourceVersion": rv}
        if token:
            metadata["continue"] = token
        if self._wants_table():
            return _json(self._table(target.rt, items, metadata))
        return _json(
            {
                "kind": f"{target.rt.kind}List",
                "apiVersion": target.rt.api_version,
                "metadata": metadata,
                "items": items,
            }
        )

    def _create(self, target: Target) -> Response:
        body = self._strict(target.rt, self._checked(target.rt, self._body()))
        created = self.store.create(target.rt, target.namespace, body, dry_run=self._dry_run())
        return self._respond(created, 201)

    def _delete_collection(self, target: Target) -> Response:
        labels, fields = self._selectors()
        options = self._delete_options()
        items, rv, _ = self.store.list(target.rt, target.namespace, labels=labels, fields=fields)
        deleted = []
        for item in items:
            meta = item["metadata"]
            try:
                deleted.append(
                    self.store.delete(
                        target.rt,
                        meta.get("namespace"),
                        meta["name"],
                        propagation=options.get("propagationPolicy"),
                        dry_run=self._dry_run(options),
                    )
                )
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
        return _json(
            {
                "kind": f"{target.rt.kind}List",
                "apiVersion": target.rt.api_version,
                "metadata": {"resourceVersion": rv},
                "items": deleted,
            }
        )

    def _patch(self, target: Target) -> Obj:
        ctype = (request.mimetype or "").lower()
        body: Any
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            try:
                body = yaml.safe_load(request.get_data())
            except yaml.YAMLError as exc:
                raise errors.bad_request(f"the patch could not be decoded: {exc}") from None
        rt = target.rt
        apply: Callable[[Obj], Any]
        if ctype == "application/merge-patch+json":
            apply = lambda obj: patching.merge_patch(obj, body)  # noqa: E731
        elif ctype == "application/json-patch+json":
            apply = lambda obj: patching.json_patch(obj, body)  # noqa: E731
        elif ctype == "application/strategic-merge-patch+json":
            if not patching.supports_strategic_merge(rt.api_version, rt.kind):
                raise errors.unsupported_media_type(
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: application/json-patch+json, application/merge-patch+json, "
                    f"application/apply-patch+yaml (strategic merge patch is not supported "
                    f"for custom resources such as {rt.kind})"
                )
            apply = lambda obj: patching.strategic_merge_patch(  # noqa: E731
                obj, body, rt.api_version, rt.kind
            )
        elif ctype == "application/apply-patch+yaml":
            raise errors.unsupported_media_type(
                "server-side apply is not supported by the Ferry simulator; use client-side "
                "`kubectl apply` (the default) or a merge patch"
            )
        else:
            raise errors.unsupported_media_type(
                f"the body of the request was in an unknown format - accepted media types "
                f"include: application/json-patch+json, application/merge-patch+json, "
                f'application/strategic-merge-patch+json (got "{ctype}")'
            )

        def guarded(obj: Obj) -> Obj:
            try:
                result = apply(obj)
            except patching.PatchError as exc:
                raise errors.ApiError(422, "Invalid", str(exc)) from None
            if not isinstance(result, dict):
                raise errors.bad_request("the patch did not produce an object")
            return self._strict(rt, result)  # the stored part is known: new fields are checked

        return self.store.patch(
            rt,
            target.namespace,
            target.name or "",
            guarded,
            subresource=target.subresource,
            dry_run=self._dry_run(),
        )

    def _scale(self, target: Target) -> Response:
        rt, ns, name = target.rt, target.namespace, target.name or ""
        assert rt.scale is not None
        if request.method == "GET":
            return _json(scaling.to_scale(rt.scale, self.store.get(rt, ns, name)))
        if request.method == "PUT":
            desired = self._body()
        elif request.method == "PATCH":
            current = scaling.to_scale(rt.scale, self.store.get(rt, ns, name))
            desired = self._patched_scale(current)
        else:
            raise errors.method_not_allowed(f"{request.method} is not allowed on scale")
        replicas = (desired.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid(
                "Scale",
                "autoscaling",
                name,
                [("spec.replicas", f"Invalid value: {replicas!r}: must be a non-negative integer")],
            )
        wanted_rv = (desired.get("metadata") or {}).get("resourceVersion")

        def write(obj: Obj) -> Obj:
            if wanted_rv and wanted_rv != obj["metadata"]["resourceVersion"]:
                raise errors.stale(rt.plural, rt.group, name)
            return scaling.with_replicas(rt.scale, obj, replicas)  # type: ignore[arg-type]

        updated = self.store.patch(rt, ns, name, write, dry_run=self._dry_run())
        return _json(scaling.to_scale(rt.scale, updated))

    def _patched_scale(self, current: Obj) -> Obj:
        ctype = (request.mimetype or "").lower()
        try:
            body = json.loads(request.get_data() or b"null")
            if ctype == "application/json-patch+json":
                return patching.json_patch(current, body)  # type: ignore[no-any-return]
            return patching.merge_patch(current, body)  # type: ignore[no-any-return]
        except (ValueError, patching.PatchError) as exc:
            raise errors.bad_request(f"invalid patch for scale: {exc}") from None

    # ------------------------------------------------------------------------ watch

    def _watch(self, target: Target) -> Response:
        labels, fields = self._selectors()
        timeout = request.args.get("timeoutSeconds", type=float) or DEFAULT_WATCH_TIMEOUT
        bookmarks = request.args.get("allowWatchBookmarks") in ("true", "1")
        rt = target.rt
        as_table = self._wants_table()
        include = request.args.get("includeObject", "Metadata")
        if as_table:
            self._table(rt, [], {}, include=include)  # a bad includeObject fails here, not later
        try:
            watcher, backlog = self.store.watch(
                rt,
                target.namespace,
                resource_version=request.args.get("resourceVersion"),
                labels=labels,
                fields=fields,
            )
        except errors.ApiError as exc:
            if exc.code != 410:
                raise
            gone = json.dumps({"type": "ERROR", "object": exc.status()}) + "\n"
            return Response(gone, mimetype=JSON)
        store, stopping, streams = self.store, self.stopping, self._streams
        connection = request.environ.get("werkzeug.socket")
        with self._streams_lock:
            streams.add(watcher)

        columns_sent = False

        def out(kind: str, obj: Obj) -> str:
            nonlocal columns_sent
            view = obj
            if obj.get("apiVersion") != rt.api_version:
                view = dict(obj, apiVersion=rt.api_version)
            if as_table:  # kubectl get -w: each event carries a one-row Table
                view = self._table(rt, [view], {}, include=include)
                if columns_sent:  # as the real server does; kubectl reuses the first ones
                    view["columnDefinitions"] = []
                columns_sent = True
            return json.dumps({"type": kind, "object": view}, separators=(",", ":")) + "\n"

        def stream() -> Iterator[str]:
            deadline = time.monotonic() + timeout
            next_bookmark = time.monotonic() + BOOKMARK_EVERY
            try:
                yield ""  # sends the headers now: clients wait for them before they go on
                for old in backlog:
                    yield out(old.type, old.obj)
                while not stopping.is_set():
                    now = time.monotonic()
                    if now >= deadline:
                        return
                    wait = min(deadline, next_bookmark if bookmarks else deadline, now + 0.5)
                    quiet_since = store.resource_version  # all up to here is queued already
                    event = watcher.next(timeout=max(0.0, wait - now))
                    if event is not None:
                        yield out(event.type, event.obj)
                    elif hung_up(connection):
                        return
                    elif bookmarks and time.monotonic() >= next_bookmark:
                        next_bookmark = time.monotonic() + BOOKMARK_EVERY
                        mark = {
                            "kind": rt.kind,
                            "apiVersion": rt.api_version,
                            "metadata": {"resourceVersion": str(quiet_since)},
                        }
                        yield json.dumps({"type": "BOOKMARK", "object": mark}) + "\n"
            finally:
                watcher.close()
                with self._streams_lock:
                    streams.discard(watcher)

        return Response(stream(), mimetype=JSON, headers={"Cache-Control": "no-cache"})

    # ------------------------------------------------------------------------ tables

    def _wants_table(self) -> bool:
        accept = request.headers.get("Accept", "")
        return "as=Table" in accept

    def _table(
        self,
        rt: ResourceType,
        items: list[Obj],
        metadata: dict[str, Any],
        *,
        include: str | None = None,  # read from the request unless given (watch streams)
    ) -> Obj:
        try:
            return tables.to_table(
                rt.kind,
                items,
                printer_columns=list(rt.printer_columns) if rt.crd else None,
                now=self.store.clock.now(),
                include_object=include or request.args.get("includeObject", "Metadata"),
                list_metadata=metadata,
            )
        except ValueError as exc:  # an unknown includeObject or an unusable column JSONPath
            raise errors.bad_request(str(exc)) from None
