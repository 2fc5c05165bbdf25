"""Discovery: the documents clients read to learn what the server serves.

``/``, ``/api``, ``/apis``, ``/apis/<group>``, the ``APIResourceList`` of each group version and
the OpenAPI v2/v3 documents, all computed from the registry of served types on each request (a
new CRD is discoverable at once). Serves no object and never writes.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from local.sim import errors, openapi
from local.sim.resources import Registry
from local.sim.server.responses import json_response


def root(registry: Registry) -> Response:
    """``/``: every path the server serves at the top."""
    paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]
    paths += [f"/apis/{g}" for g in registry.groups()]
    return json_response({"paths": sorted(paths)})


def api_versions() -> dict[str, Any]:
    """``/api``: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}],
    }


def group(registry: Registry, name: str) -> dict[str, Any] | None:
    """``/apis/<name>``, or None when no type of that group is served."""
    versions = registry.groups().get(name)
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


def group_list(registry: Registry) -> dict[str, Any]:
    """``/apis``: every served group."""
    groups = [group(registry, name) for name in registry.groups()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any]:
    """The ``APIResourceList`` of a group version (404 when nothing of it is served)."""
    types = [rt for rt in registry.all() if (rt.group, rt.version) == (group, version)]
    if not types:
        raise errors.page_not_found(request.path)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [entry for rt in types for entry in rt.resource_list_entries()],
    }


def openapi_v2() -> Response:
    """``/openapi/v2``: an empty document, in protobuf when asked as client-go asks."""
    if "protobuf" in request.headers.get("Accept", ""):  # what client-go asks for
        return Response(b"", mimetype=openapi.V2_PROTOBUF)  # an empty Document
    return json_response(openapi.v2())


def openapi_v3(registry: Registry, gv: str) -> Response:
    """``/openapi/v3`` (the index) or ``/openapi/v3/<group version>``."""
    if not gv:
        return json_response(openapi.root(registry))
    doc = openapi.group_version(registry, gv)
    if doc is None:
        raise errors.page_not_found(request.path)
    return json_response(doc)
