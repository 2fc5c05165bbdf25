"""A minimal OpenAPI v3 description of the served API, for what kubectl reads from it.

kubectl (1.27+) validates manifests on the server (``fieldValidation=Strict``) when the OpenAPI v3
document of the resource's group-version declares that query parameter on its PATCH operation;
otherwise it falls back to downloading the full v2 schema. These documents declare the
parameter and each resource's group-version-kind, nothing more: no object schemas (so kubectl
builds apply patches from its compiled-in types); the v2 document is empty. Pure functions of
the registry.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from local.sim.resources import Registry, ResourceType

_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json")


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _types(registry: Registry) -> dict[str, list[ResourceType]]:
    by_gv: dict[str, list[ResourceType]] = {}
    for rt in registry.all():
        by_gv.setdefault(_gv_path(rt.group, rt.version), []).append(rt)
    return by_gv


def root(registry: Registry) -> dict[str, Any]:
    """``/openapi/v3``: one entry per group-version, with a hash that changes with its types."""
    paths = {}
    for gv, types in _types(registry).items():
        digest = hashlib.sha256(
            json.dumps([(t.plural, t.kind, t.namespaced) for t in types]).encode()
        ).hexdigest()[:16]
        paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest}"}
    return {"paths": paths}


V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
"""The media type client-go asks ``/openapi/v2`` for; an empty body is an empty Document."""


def v2() -> dict[str, Any]:
    """``/openapi/v2``: a Swagger document that defines nothing. kubectl falls back to it when
    the v3 document does not know a kind (a ``kind: List`` manifest, say); finding no schema
    there it skips client-side validation instead of failing on a 404."""
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-ferry-sim"},
        "paths": {},
        "definitions": {},
    }


def group_version(registry: Registry, gv: str) -> dict[str, Any] | None:
    """``/openapi/v3/<gv>``: a PATCH operation per resource, with its GVK and parameters."""
    types = _types(registry).get(gv)
    if not types:
        return None
    paths: dict[str, Any] = {}
    for rt in types:
        prefix = f"/{gv}/namespaces/{{namespace}}" if rt.namespaced else f"/{gv}"
        patch = {
            "operationId": f"patch{rt.kind}",
            "x-kubernetes-group-version-kind": {
                "group": rt.group,
                "version": rt.version,
                "kind": rt.kind,
            },
            "parameters": [
                {"name": name, "in": "query", "schema": {"type": "string"}}
                for name in ("dryRun", "fieldManager", "fieldValidation", "force")
            ],
            "requestBody": {"content": {t: {"schema": {"type": "object"}} for t in _PATCH_TYPES}},
            "responses": {"200": {"description": "OK"}},
        }
        paths[f"{prefix}/{rt.plural}/{{name}}"] = {"patch": patch}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-ferry-sim"},
        "paths": paths,
        "components": {},
    }
