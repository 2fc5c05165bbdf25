"""HTTPRoutes as rules: what a Gateway API implementation does with a route's matches.

The local nginx serves every HTTPRoute as if attached to its one Gateway (``parentRefs`` are
not checked): for each of the route's ``hostnames`` (none: every host), each rule's matches —
``path`` (``PathPrefix``, element-wise as the Gateway API says, or ``Exact``), ``method``
(exact) and ``headers`` (``Exact`` or ``RegularExpression``), all of which must hold — send a
request to the rule's ``backendRefs`` (Services, this namespace or the one named) split by
``weight`` (1 when absent; all 0: the rule answers 500), and a ``RequestMirror`` filter copies
it (``percent`` or ``fraction`` of the requests) to another Service, its answer ignored. A
request takes the rule of the Gateway API's precedence: an exact path, then the longest prefix,
then a method, then the most header matches, then the oldest route, then rule order; none: 404.

What cannot be carried (a regex path, query parameter matches, other filters, a backend that is
not a Service, text nginx could parse) is left out and reported in ``problems``. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from local.ingress.routes import HOST, PATH, TOKEN, VALUE, Backend, service_port

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


@dataclass(frozen=True)
class Header:
    name: str
    value: str
    regex: bool


@dataclass(frozen=True)
class Rule:
    """One match of one rule: where it applies and where it sends."""

    host: str
    """"" for every host."""
    path: str
    exact: bool
    method: str
    headers: tuple[Header, ...]
    backends: tuple[tuple[Backend, int], ...]
    mirror: Backend | None
    mirror_percent: float
    route: str
    """``namespace/name`` of the HTTPRoute."""
    order: tuple[str, str, int, int]
    """(creation time, route, rule index, match index): the tie-breakers, oldest first."""

    def precedence(self) -> tuple[Any, ...]:
        """Sorts the rules that could take a request, the one that takes it first."""
        return (not self.exact, -len(self.path), not self.method, -len(self.headers), self.order)

    def covers(self, path: str, exact: bool) -> bool:
        """Whether this rule's path matches the requests of the location (``path``,
        ``exact``): its own exact path, or a prefix of the location's path, element-wise."""
        if self.exact:
            return exact and path == self.path
        prefix = self.path.rstrip("/")
        return path == self.path or path == prefix or path.startswith(prefix + "/")


def _percent(mirror: Mapping[str, Any]) -> float:
    if "percent" in mirror:
        return float(max(0, min(100, int(mirror.get("percent") or 0))))
    fraction = mirror.get("fraction")
    if isinstance(fraction, dict):
        numerator = int(fraction.get("numerator") or 0)
        denominator = int(fraction.get("denominator") or 100) or 100
        return max(0.0, min(100.0, 100.0 * numerator / denominator))
    return 100.0


def _backend(namespace: str, ref: Mapping[str, Any]) -> Backend | None:
    if ref.get("group", "") not in ("", "core") or ref.get("kind", "Service") != "Service":
        return None
    port = ref.get("port")
    return service_port(
        ref.get("namespace") or namespace, ref.get("name"), port if isinstance(port, int) else None
    )


def rules(routes: Iterable[Mapping[str, Any]], problems: list[str]) -> list[Rule]:
    """The rules of ``routes`` (HTTPRoute objects), every match of every rule."""
    found: list[Rule] = []
    for route in routes:
        meta = route.get("metadata") or {}
        namespace = str(meta.get("namespace", ""))
        name = f"{namespace}/{meta.get('name', '')}"
        created = str(meta.get("creationTimestamp", ""))
        spec = route.get("spec") or {}
        hosts = [str(h) for h in spec.get("hostnames") or []] or [""]
        for host in hosts:
            if host and not HOST.match(host):
                problems.append(f"{name}: hostname {host!r} left out")
        hosts = [h for h in hosts if not h or HOST.match(h)]
        for i, rule in enumerate(spec.get("rules") or []):
            rule = rule or {}
            backends = []
            for ref in rule.get("backendRefs") or []:
                backend = _backend(namespace, ref or {})
                if backend is None:
                    problems.append(f"{name}: rules[{i}]: a backend that is not a Service")
                    continue
                weight = (ref or {}).get("weight", 1)
                backends.append((backend, max(0, int(weight if weight is not None else 1))))
            mirror, percent = None, 0.0
            for j, filt in enumerate(rule.get("filters") or []):
                if (filt or {}).get("type") == "RequestMirror":
                    found_mirror = filt.get("requestMirror") or {}
                    mirror = _backend(namespace, found_mirror.get("backendRef") or {})
                    percent = _percent(found_mirror)
                else:
                    problems.append(f"{name}: rules[{i}].filters[{j}]: {filt.get('type')} left out")
            matches = rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]
            for k, match in enumerate(matches):
                parsed = _match(match or {}, f"{name}: rules[{i}].matches[{k}]", problems)
                if parsed is None:
                    continue
                path, exact, method, headers = parsed
                for host in hosts:
                    found.append(
                        Rule(
                            host,
                            path,
                            exact,
                            method,
                            headers,
                            tuple(backends),
                            mirror,
                            percent,
                            name,
                            (created, name, i, k),
                        )
                    )
    return found


def _match(
    match: Mapping[str, Any], where: str, problems: list[str]
) -> tuple[str, bool, str, tuple[Header, ...]] | None:
    path = match.get("path") or {"type": "PathPrefix", "value": "/"}
    kind, value = path.get("type", "PathPrefix"), str(path.get("value") or "/")
    if kind not in ("PathPrefix", "Exact") or not PATH.match(value):
        problems.append(f"{where}: path {kind} {value!r} left out")
        return None
    if match.get("queryParams"):
        problems.append(f"{where}: queryParams matches left out")
        return None
    method = str(match.get("method") or "")
    if method and method not in METHODS:
        problems.append(f"{where}: method {method!r} left out")
        return None
    headers = []
    for header in match.get("headers") or []:
        header = header or {}
        name, text = str(header.get("name", "")), str(header.get("value", ""))
        regex = header.get("type", "Exact") == "RegularExpression"
        if not TOKEN.match(name) or not VALUE.match(text):
            problems.append(f"{where}: header {name!r} left out")
            return None
        if regex:
            try:
                re.compile(text)
            except re.error as exc:
                problems.append(f"{where}: header {name!r} pattern left out ({exc})")
                return None
        headers.append(Header(name, text, regex))
    return value, kind == "Exact", method, tuple(headers)
