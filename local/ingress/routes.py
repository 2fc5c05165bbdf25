"""Ingresses as routes: what ingress-nginx does with a host, a path and its canary Ingress.

An Ingress of class ``nginx`` (or without a class) routes each ``host`` + ``path`` of its rules
to a Service port. An Ingress annotated ``nginx.ingress.kubernetes.io/canary: "true"`` is the
canary of the main Ingress with the same host and path (one per path; without a main one it
routes nothing), and sends it a request when, in ingress-nginx's order of precedence:

1. ``canary-by-header`` names a header the request carries, and its value equals
   ``canary-by-header-value``, or else matches the regex ``canary-by-header-pattern``, or else
   (neither given) is ``always`` (``never`` sends it to the main Ingress and stops there);
2. else the cookie ``canary-by-cookie`` is ``always`` (``never``: the main Ingress);
3. else a random draw falls within ``canary-weight`` of ``canary-weight-total`` (100).

Annotation values that could not be written safely into nginx's configuration (a header or
cookie name outside the HTTP token characters, a pattern Python's ``re`` refuses, a host or path
with characters nginx would parse) are ignored and reported in :attr:`Table.problems`, as
ingress-nginx's validation would refuse them. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

PREFIX = "nginx.ingress.kubernetes.io/"
TOKEN = re.compile(r"^[A-Za-z0-9-]+$")  # header names nginx turns into $http_ variables
_COOKIE = re.compile(r"^[A-Za-z0-9._-]+$")
HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
PATH = re.compile(r"^/[A-Za-z0-9._~!&'()*+,=:@%/-]*$")  # no $: nginx would expand it
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # namespaces, Services: DNS labels
PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$")  # IANA service names
VALUE = re.compile(r"^[\x21-\x7e ]*$")


@dataclass(frozen=True)
class Backend:
    """A Service port: ``port`` is its number or its name."""

    namespace: str
    service: str
    port: int | str


@dataclass(frozen=True)
class Canary:
    backend: Backend
    ingress: str
    header: str = ""
    header_value: str = ""
    header_pattern: str = ""
    cookie: str = ""
    weight: int = 0
    weight_total: int = 100


@dataclass(frozen=True)
class Route:
    """One host + path, its main backend and, maybe, its canary."""

    host: str
    """"" for every host."""
    path: str
    exact: bool
    backend: Backend
    ingress: str
    """``namespace/name`` of the main Ingress."""
    canary: Canary | None = None
    element_wise: bool = False
    """``pathType: Prefix``: ``/foo`` matches ``/foo`` and ``/foo/...``, never ``/foobar``
    (``ImplementationSpecific`` is nginx's plain prefix, as in ingress-nginx)."""


@dataclass
class Table:
    routes: list[Route] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _annotations(ingress: Mapping[str, Any]) -> dict[str, str]:
    found = (ingress.get("metadata") or {}).get("annotations") or {}
    return {k[len(PREFIX) :]: str(v) for k, v in found.items() if k.startswith(PREFIX)}


def _ours(ingress: Mapping[str, Any], ingress_class: str) -> bool:
    spec = ingress.get("spec") or {}
    named = spec.get("ingressClassName") or (
        ((ingress.get("metadata") or {}).get("annotations") or {}).get(
            "kubernetes.io/ingress.class"
        )
    )
    return named in (None, "", ingress_class)


def _paths(
    ingress: Mapping[str, Any], problems: list[str]
) -> Iterable[tuple[str, str, bool, bool, Backend]]:
    meta = ingress.get("metadata") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    if not NAME.match(namespace):
        problems.append(f"{namespace}/{name}: namespace {namespace!r} ignored")
        return
    spec = ingress.get("spec")
    for rule in (spec.get("rules") if isinstance(spec, dict) else None) or []:
        if not isinstance(rule, dict):
            continue
        host = str(rule.get("host") or "")
        if host and not HOST.match(host):
            problems.append(f"{namespace}/{name}: host {host!r} ignored")
            continue
        http = rule.get("http")
        for path in (http.get("paths") if isinstance(http, dict) else None) or []:
            if not isinstance(path, dict):
                continue
            text = str(path.get("path") or "/")
            if not PATH.match(text):
                problems.append(f"{namespace}/{name}: path {text!r} ignored")
                continue
            backend = _backend(namespace, path.get("backend"))
            if backend is None:
                problems.append(f"{namespace}/{name}: {text}: a backend that is not a Service port")
                continue
            kind = path.get("pathType")
            yield host, text, kind == "Exact", kind == "Prefix", backend


def _backend(namespace: str, backend: Any) -> Backend | None:
    """An Ingress path's Service backend (its port by number or by name), or None."""
    service = backend.get("service") if isinstance(backend, dict) else None
    if not isinstance(service, dict):
        return None
    port = service.get("port")
    number, named = (
        (port.get("number"), port.get("name")) if isinstance(port, dict) else (None, None)
    )
    return service_port(namespace, service.get("name"), number if number is not None else named)


def service_port(namespace: Any, name: Any, port: Any) -> Backend | None:
    """A Service port that can be written into nginx's configuration: DNS-label namespace and
    name, a port number in 1..65535 or an IANA service name; None otherwise."""
    if not isinstance(namespace, str) or not NAME.match(namespace):
        return None
    if not isinstance(name, str) or not NAME.match(name):
        return None
    if isinstance(port, int) and not isinstance(port, bool):
        return Backend(namespace, name, port) if 0 < port < 65536 else None
    if isinstance(port, str) and PORT_NAME.match(port):
        return Backend(namespace, name, port)
    return None


def _canary(
    annotations: Mapping[str, str], backend: Backend, ingress: str, problems: list[str]
) -> Canary:
    header = annotations.get("canary-by-header", "")
    if header and not TOKEN.match(header):
        problems.append(f"{ingress}: canary-by-header {header!r} ignored (not a header name)")
        header = ""
    value = annotations.get("canary-by-header-value", "")
    if value and not VALUE.match(value):
        problems.append(f"{ingress}: canary-by-header-value ignored (not printable)")
        value = ""
    pattern = annotations.get("canary-by-header-pattern", "")
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(f"{ingress}: canary-by-header-pattern ignored ({exc})")
            pattern = ""
        if pattern and not VALUE.match(pattern):
            problems.append(f"{ingress}: canary-by-header-pattern ignored (not printable)")
            pattern = ""
    cookie = annotations.get("canary-by-cookie", "")
    if cookie and not _COOKIE.match(cookie):
        problems.append(f"{ingress}: canary-by-cookie {cookie!r} ignored (not a cookie name)")
        cookie = ""
    weight, total = (
        _number(annotations.get("canary-weight")),
        _number(annotations.get("canary-weight-total")),
    )
    total = total if total and total > 0 else 100
    return Canary(
        backend,
        ingress,
        header=header,
        header_value=value,
        header_pattern="" if value else pattern,
        cookie=cookie,
        weight=max(0, min(weight or 0, total)),
        weight_total=total,
    )


def _number(text: str | None) -> int | None:
    try:
        return int(str(text).strip()) if text is not None else None
    except ValueError:
        return None


def table(ingresses: Iterable[Mapping[str, Any]], ingress_class: str = "nginx") -> Table:
    """The routes of ``ingresses`` (oldest first wins a host + path, as in ingress-nginx)."""
    out = Table()
    ordered = sorted(
        (i for i in ingresses if _ours(i, ingress_class)),
        key=lambda i: (
            str((i.get("metadata") or {}).get("creationTimestamp", "")),
            str((i.get("metadata") or {}).get("namespace", "")),
            str((i.get("metadata") or {}).get("name", "")),
        ),
    )
    mains: dict[tuple[str, str, bool], Route] = {}
    canaries = []
    for ingress in ordered:
        meta = ingress.get("metadata") or {}
        name = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        annotations = _annotations(ingress)
        is_canary = annotations.get("canary", "").lower() == "true"
        for host, path, exact, element_wise, backend in _paths(ingress, out.problems):
            key = (host, path, exact)
            if is_canary:
                canaries.append((key, _canary(annotations, backend, name, out.problems)))
            elif key in mains:
                out.problems.append(
                    f"{name}: {host or '*'}{path} is already {mains[key].ingress}'s"
                )
            else:
                mains[key] = Route(host, path, exact, backend, name, element_wise=element_wise)
    for key, canary in canaries:
        main = mains.get(key)
        if main is None:
            out.problems.append(
                f"{canary.ingress}: a canary of no Ingress ({key[0] or '*'}{key[1]})"
            )
        elif main.canary is not None:
            out.problems.append(f"{canary.ingress}: {main.ingress} has a canary already")
        else:
            mains[key] = replace(main, canary=canary)
    out.routes = list(mains.values())
    return out
