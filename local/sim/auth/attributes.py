"""What a request asks to do, as the authorizer sees it: kube-apiserver's request attributes.

:func:`from_http` maps a method, URL path and query onto them as the API server's
``RequestInfoFactory`` does: ``/api/v1/...`` and ``/apis/<group>/<version>/...`` with a resource
are resource requests (GET of an object is ``get``, of a collection ``list``, or ``watch`` with
``?watch=true``; POST ``create``; PUT ``update``; PATCH ``patch``; DELETE ``delete``, of a
collection ``deletecollection``); a Namespace's own URL is in that namespace; everything else
(discovery, ``/version``, ``/healthz``) is a non-resource request whose verb is the lowercased
method. Pure functions; nothing here reads the store or decides anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from local.sim.auth.users import UserInfo

_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class Attributes:
    """Who asks to do what, to which resource or path."""

    user: UserInfo
    verb: str
    resource_request: bool
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def qualified_resource(self) -> str:
        """``resource[/subresource]``, as RBAC rules and messages name it."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def from_http(user: UserInfo, method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """The attributes of an HTTP request made by ``user``."""
    parts = [p for p in path.split("/") if p]
    nonresource = Attributes(user, method.lower(), False, path=path)
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return nonresource
    verb = _VERBS.get(method.upper(), method.lower())
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "delete":
        verb = "deletecollection"
    if not name and verb == "get":
        verb = "watch" if query.get("watch") in ("true", "1") else "list"
        name = _exact_name(query.get("fieldSelector", ""))
    return Attributes(
        user, verb, True, group, version, resource, subresource, namespace, name, path
    )


def _exact_name(field_selector: str) -> str:
    """The name a list or watch is narrowed to by ``metadata.name=<name>``, if it is."""
    for term in field_selector.split(","):
        key, op, value = term.partition("==") if "==" in term else term.partition("=")
        if op and key.strip() == "metadata.name" and not value.startswith("="):
            return value.strip()
    return ""
