"""Helpers for tests that talk to the simulator through the official ``kubernetes`` client.

Typed-loose accessors of the client's API classes, a raw HTTP request for bodies the client
cannot produce, the decoded Status of a call that must fail, and the bodies the tests create
(ConfigMaps, Deployments, the Widget CRD and its objects). No fixture and no assertion lives
here beyond ``failure`` expecting an ApiException.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

from local.sim.cluster import Simulator

NS = "default"
dynamic_client: Any = dynamic.DynamicClient
GROUP = "example.com"


# The client's pydantic signatures want model instances and Optional-check every field; the
# tests pass plain dicts (as Ferry does) and read fields they know are set, so the API objects
# are used untyped.


def _accessor(api_class: Any) -> Callable[[client.ApiClient], Any]:
    def accessor(api: client.ApiClient) -> Any:
        return api_class(api)

    return accessor


core = _accessor(client.CoreV1Api)
apps = _accessor(client.AppsV1Api)
custom = _accessor(client.CustomObjectsApi)
rbac = _accessor(client.RbacAuthorizationV1Api)
authn = _accessor(client.AuthenticationV1Api)
authz = _accessor(client.AuthorizationV1Api)
admission = _accessor(client.AdmissionregistrationV1Api)


def refusal(message: str, code: int = 403, **details: Any) -> dict[str, Any]:
    """The Status body of a refusal (403 Forbidden, or another code's reason)."""
    reason = {403: "Forbidden", 422: "Invalid"}[code]
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details,
        "code": code,
    }


def status_body(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body or "null")
    return body


def failure(call: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """The HTTP status and decoded Status body of a call that must fail."""
    with pytest.raises(ApiException) as info:
        call(*args, **kwargs)
    return info.value.status, status_body(info.value)


def raw(
    sim: Simulator,
    method: str,
    path: str,
    body: bytes | None = None,
    ctype: str = "application/json",
    token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """A plain HTTP request, for bodies the official client cannot produce (sending ``token``
    as a bearer token when given)."""
    headers = {"Content-Type": ctype}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(sim.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


def deployment(name: str, *images: str, replicas: int = 1) -> dict[str, Any]:
    containers = [
        {"name": f"c{i}", "image": image} for i, image in enumerate(images or ("nginx:1",))
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}},
        },
    }


def crd(
    group: str,
    version: str,
    plural: str,
    kind: str,
    schema: dict[str, Any],
    *,
    scope: str = "Namespaced",
    subresources: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A CustomResourceDefinition serving one version of ``kind``."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": subresources or {},
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


WIDGET_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer"},
                "color": {"type": "string", "default": "blue"},
            },
        },
        "status": {
            "type": "object",
            "properties": {
                "phase": {"type": "string"},
                "replicas": {"type": "integer"},
            },
        },
    },
}


def widget_crd(
    plural: str = "widgets",
    kind: str = "Widget",
    *,
    scope: str = "Namespaced",
    subresources: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return crd(GROUP, "v1", plural, kind, WIDGET_SCHEMA, scope=scope, subresources=subresources)


def create_crd(api: client.ApiClient, body: dict[str, Any]) -> None:
    extensions: Any = client.ApiextensionsV1Api(api)
    extensions.create_custom_resource_definition(body)


def widget(name: str, size: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": size, **spec},
    }
