"""The verbs on resource URLs: get, list, create, replace, patch and delete of collections and
objects, and their ``status`` and ``scale`` subresources.

Resolves what a URL names (:class:`Target`), decodes what the verb needs, calls the store and
encodes its answer (as a Table when asked). Watches are handed to ``watch``; the store decides
every write rule (conflicts, generation, finalizers), so this module holds no state and knows
no kind in particular.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from flask import Response, request

from local.sim import errors, patching, scaling
from local.sim.auth.reviews import Handler
from local.sim.objects import Obj
from local.sim.resources import ResourceType
from local.sim.server import discovery
from local.sim.server.inputs import (
    checked_kind,
    delete_options,
    dry_run,
    read_body,
    selectors,
    strict_fields,
)
from local.sim.server.responses import json_response, table, wants_table
from local.sim.server.watch import Watches
from local.sim.store import Store


@dataclass(frozen=True)
class Target:
    """What a resource URL names."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


class Routes:
    """Serves ``/api/<version>/...`` and ``/apis/<group>/<version>/...`` from a :class:`Store`."""

    def __init__(
        self,
        store: Store,
        watches: Watches,
        handlers: dict[tuple[str, str, str], Handler] | None = None,
    ) -> None:
        self.store = store
        self.watches = watches
        self.handlers = dict(handlers or {})
        """(group, plural, subresource) -> the answer to a POST there (reviews, TokenRequest),
        for what is computed rather than stored."""

    def resource(self, group_version: tuple[str, str], rest: list[str]) -> Response:
        """Answer the current request for the URL ``group_version`` + ``rest``."""
        group, version = group_version
        if not rest:
            if request.method != "GET":
                raise errors.method_not_allowed(f"{request.method} is not allowed here")
            return json_response(discovery.resource_list(self.store.registry, group, version))
        target = self._target(group, version, rest)
        method = request.method
        handler = self.handlers.get((target.rt.group, target.rt.plural, target.subresource or ""))
        if handler is not None:
            if method != "POST":
                raise errors.method_not_allowed(
                    "the server does not allow this method on the requested resource"
                )
            return json_response(handler(target.namespace, target.name, read_body()), 201)
        if target.name is None:
            if method == "GET":
                if request.args.get("watch") in ("true", "1"):
                    return self.watches.stream(target.rt, target.namespace)
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
            body = strict_fields(target.rt, read_body())
            return self._respond(
                self.store.replace(
                    target.rt,
                    target.namespace,
                    target.name,
                    checked_kind(target.rt, body),
                    subresource=target.subresource,
                    dry_run=dry_run(),
                )
            )
        if method == "PATCH":
            return self._respond(self._patch(target))
        if method == "DELETE":
            options = delete_options()
            return self._respond(
                self.store.delete(
                    target.rt,
                    target.namespace,
                    target.name,
                    propagation=options.get("propagationPolicy"),
                    uid=(options.get("preconditions") or {}).get("uid"),
                    resource_version=(options.get("preconditions") or {}).get("resourceVersion"),
                    dry_run=dry_run(options),
                )
            )
        raise errors.method_not_allowed(f"{method} is not allowed on an object")

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
            (sub == "status" and rt.status)
            or (sub == "scale" and rt.scale is not None)
            or (rt.group, rt.plural, sub) in self.handlers
        ):
            raise errors.page_not_found(request.path)
        return Target(rt, namespace, name, sub)

    def _respond(self, obj: Obj, status: int = 200) -> Response:
        if wants_table():
            return json_response(table(self.store, self._rt_of(obj), [obj], {}), status)
        return json_response(obj, status)

    def _rt_of(self, obj: Obj) -> ResourceType:
        rt = self.store.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rt is None:  # pragma: no cover - every stored object has a served type
            raise errors.ApiError(500, "InternalError", "object of an unknown type")
        return rt

    # ------------------------------------------------------------------------ collections

    def _list(self, target: Target) -> Response:
        labels, fields = selectors()
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
        if wants_table():
            return json_response(table(self.store, target.rt, items, metadata))
        return json_response(
            {
                "kind": f"{target.rt.kind}List",
                "apiVersion": target.rt.api_version,
                "metadata": metadata,
                "items": items,
            }
        )

    def _create(self, target: Target) -> Response:
        body = strict_fields(target.rt, checked_kind(target.rt, read_body()))
        created = self.store.create(target.rt, target.namespace, body, dry_run=dry_run())
        return self._respond(created, 201)

    def _delete_collection(self, target: Target) -> Response:
        labels, fields = selectors()
        options = delete_options()
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
                        dry_run=dry_run(options),
                    )
                )
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
        return json_response(
            {
                "kind": f"{target.rt.kind}List",
                "apiVersion": target.rt.api_version,
                "metadata": {"resourceVersion": rv},
                "items": deleted,
            }
        )

    # ------------------------------------------------------------------------ patches

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
            return strict_fields(rt, result)  # the stored part is known: new fields are checked

        return self.store.patch(
            rt,
            target.namespace,
            target.name or "",
            guarded,
            subresource=target.subresource,
            dry_run=dry_run(),
        )

    # ------------------------------------------------------------------------ scale

    def _scale(self, target: Target) -> Response:
        rt, ns, name = target.rt, target.namespace, target.name or ""
        assert rt.scale is not None
        if request.method == "GET":
            return json_response(scaling.to_scale(rt.scale, self.store.get(rt, ns, name)))
        if request.method == "PUT":
            desired = read_body()
        elif request.method == "PATCH":
            current = scaling.to_scale(rt.scale, self.store.get(rt, ns, name))
            desired = _patched_scale(current)
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

        updated = self.store.patch(rt, ns, name, write, subresource="scale", dry_run=dry_run())
        return json_response(scaling.to_scale(rt.scale, updated))


def _patched_scale(current: Obj) -> Obj:
    ctype = (request.mimetype or "").lower()
    try:
        body = json.loads(request.get_data() or b"null")
        if ctype == "application/json-patch+json":
            return patching.json_patch(current, body)  # type: ignore[no-any-return]
        return patching.merge_patch(current, body)  # type: ignore[no-any-return]
    except (ValueError, patching.PatchError) as exc:
        raise errors.bad_request(f"invalid patch for scale: {exc}") from None
