"""nginx configuration for a table of routes: the choice ingress-nginx makes, in nginx's terms.

Each route is a ``location`` in the ``server`` of its host; when it has a canary, three
variables decide the backend, in ingress-nginx's precedence: a ``map`` of the canary header
(``canary``/``primary``/empty), a ``map`` of the cookie, and a ``split_clients`` on the request's
random id for the weight; a last ``map`` takes the first word set. Upstreams list the ready
addresses of a Service port's Endpoints (none: nginx answers 503, as ingress-nginx does), with
keep-alive and ingress-nginx's retry of the next address on a connection error (a Pod gone).
Requests are logged as JSON lines with the fields ingress-nginx's metrics are labelled by.
Every user value that reaches the text was checked by ``routes`` and is quoted here. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from local.ingress.httproutes import Rule
from local.ingress.routes import Backend, Route

LOG_FORMAT = (
    '{"time":$msec,"host":"$host","method":"$request_method","uri":"$uri",'
    '"status":$status,"request_time":$request_time,"upstream":"$ferry_upstream",'
    '"upstream_addr":"$upstream_addr","upstream_status":"$upstream_status",'
    '"upstream_response_time":"$upstream_response_time",'
    '"namespace":"$ferry_namespace","ingress":"$ferry_ingress","service":"$ferry_service",'
    '"path":"$ferry_path","canary":"$ferry_canary","bytes":$bytes_sent}'
)
"""One JSON line per request, with what ingress-nginx labels its metrics by: the main
Ingress's namespace, name, Service and path, and ``canary``, the canary's upstream name when
the request went there (else empty)."""


GENERATION = "generation.conf"
"""Included by the 503 server: ``location = /_ferry/generation`` answers the number of the
configuration loaded, so a reload can be seen to be done."""


def generation(number: int) -> str:
    """The text of :data:`GENERATION` for configuration ``number``."""
    return f'location = /_ferry/generation {{ return 200 "{number}"; }}\n'


def quote(text: str) -> str:
    """``text`` as an nginx double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def upstream_name(backend: Backend) -> str:
    return f"{backend.namespace}-{backend.service}-{backend.port}"


def _header_variable(header: str) -> str:
    return "$http_" + header.lower().replace("-", "_")


def _choice(index: int, route: Route) -> list[str]:
    """The maps and split deciding route ``index``'s backend: ``$ferry_backend_<index>``."""
    canary = route.canary
    assert canary is not None
    main, alternative = upstream_name(route.backend), upstream_name(canary.backend)
    lines = []
    header = f"$ferry_h_{index}"
    if canary.header:
        lines.append(f"map {_header_variable(canary.header)} {header} {{")
        # regexes (~), not strings: nginx compares a map's strings without case, ingress-nginx
        # with; and a value is never read as one of map's keywords (default, include...)
        if canary.header_value:
            lines.append(f"    {quote('~^' + _regex_literal(canary.header_value) + '$')} canary;")
        elif canary.header_pattern:
            lines.append(f"    {quote('~' + canary.header_pattern)} canary;")
        else:
            lines += ['    "~^always$" canary;', '    "~^never$" primary;']
        lines += ['    default "";', "}"]
    else:
        lines += [f"map $host {header} {{", '    default "";', "}"]
    cookie = f"$ferry_c_{index}"
    if canary.cookie:
        name = canary.cookie.replace(".", r"\.")
        lines += [
            f"map $http_cookie {cookie} {{",
            f'    "~(^|;\\s*){name}=always(;|$)" canary;',
            f'    "~(^|;\\s*){name}=never(;|$)" primary;',
            '    default "";',
            "}",
        ]
    else:
        lines += [f"map $host {cookie} {{", '    default "";', "}"]
    weight = f"$ferry_w_{index}"
    percent = 100.0 * canary.weight / canary.weight_total
    lines.append(f'split_clients "$request_id" {weight} {{')
    if percent >= 100:
        lines.append("    * canary;")
    else:
        if percent > 0:  # (split_clients counts in hundredths of a percent)
            lines.append(f"    {max(percent, 0.01):.2f}% canary;")
        lines.append("    * primary;")
    lines.append("}")
    lines += [
        f'map "{header}{cookie}{weight}" $ferry_backend_{index} {{',
        f"    ~^canary {alternative};",
        f"    default {main};",
        "}",
    ]
    return lines


def _regex_literal(text: str) -> str:
    """``text`` matched literally inside a PCRE pattern."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", text)


def _ingress_locations(
    entries: Sequence[tuple[int, Route]],
) -> list[tuple[int, Route, str, bool]]:
    """Each Ingress route's nginx locations: its path (``Exact``: that path only; ``Prefix``:
    element-wise; ``ImplementationSpecific``: nginx's prefix)."""
    found = []
    for index, route in entries:
        if route.element_wise and not route.exact:
            found += [(index, route, path, exact) for path, exact in _element_wise(route.path)]
        else:
            found.append((index, route, route.path, route.exact))
    return found


def _bucket(routes: Sequence[Route], rules: Sequence[Rule]) -> int:
    """A hash bucket that holds the longest host name (a power of two, at least 128)."""
    longest = max([len(r.host) for r in routes] + [len(r.host) for r in rules] + [0])
    size = 128
    while size < longest + 32:
        size *= 2
    return size


def _element_wise(path: str) -> list[tuple[str, bool]]:
    """The nginx locations of a Prefix path matched element-wise: the path itself and what is
    below it (``/`` alone: everything)."""
    trimmed = path.rstrip("/")
    return [("/", False)] if not trimmed else [(trimmed, True), (trimmed + "/", False)]


def _locations(rules: Sequence[Rule]) -> list[tuple[str, bool]]:
    """The nginx locations the rules need: a prefix's own path and its sub-paths (as the
    Gateway API matches element-wise), an exact path."""
    found: set[tuple[str, bool]] = set()
    for rule in rules:
        if rule.exact:
            found.add((rule.path, True))
        else:
            found.update(_element_wise(rule.path))
    return sorted(found)


def _rule_choice(index: int, candidates: Sequence[Rule]) -> tuple[list[str], bool]:
    """The maps choosing the first matching candidate (``$ferry_rule_<index>``: its number
    from 1, or empty), the backend by weight (``$ferry_backend_<index>``: an upstream name, or
    ``none`` when the rule's weights are all 0) and the mirror; whether any mirrors."""
    lines: list[str] = []
    keys = []
    for j, rule in enumerate(candidates):
        key = ""
        conditions = [(f"$http_{h.name.lower().replace('-', '_')}", h) for h in rule.headers]
        for k, (variable, header) in enumerate(conditions):
            name = f"$ferry_g_{index}_{j}_{k}"
            pattern = header.value if header.regex else f"^{_regex_literal(header.value)}$"
            lines += [
                f"map {variable} {name} {{",
                f"    {quote('~' + pattern)} 1;",
                "    default 0;",
                "}",
            ]
            key += name
        if rule.method:
            name = f"$ferry_g_{index}_{j}_m"
            lines += [
                f"map $request_method {name} {{",
                f"    {rule.method} 1;",
                "    default 0;",
                "}",
            ]
            key += name
        keys.append((key, len(conditions) + (1 if rule.method else 0)))
    # "k" then each candidate's conditions, 1 where one holds: the first all-1 one takes it
    # (the leading "k": nginx does not match a map's regexes against an empty string)
    lines.append(f'map "k{":".join(k for k, _ in keys)}" $ferry_rule_{index} {{')
    for j, (_, count) in enumerate(keys):
        lines.append(f'    "~^k(?:[01]*:){{{j}}}1{{{count}}}(?::|$)" {j + 1};')
    lines += ['    default "";', "}"]
    mirrors = False
    for j, rule in enumerate(candidates):
        total = sum(weight for _, weight in rule.backends)
        lines.append(f'split_clients "$request_id" $ferry_s_{index}_{j} {{')
        shares = (
            [(upstream_name(b), 100.0 * w / total) for b, w in rule.backends if w] if total else []
        )
        for name, share in shares[:-1]:
            lines.append(f"    {max(share, 0.01):.2f}% {name};")
        lines.append(f"    * {shares[-1][0] if shares else 'none'};")
        lines.append("}")
        if rule.mirror is not None and rule.mirror_percent > 0:
            mirrors = True
            lines.append(f'split_clients "${{request_id}}m" $ferry_m_{index}_{j} {{')
            if rule.mirror_percent < 100:
                lines.append(f"    {rule.mirror_percent:.2f}% {upstream_name(rule.mirror)};")
                lines.append('    * "";')
            else:
                lines.append(f"    * {upstream_name(rule.mirror)};")
            lines.append("}")
    lines.append(f"map $ferry_rule_{index} $ferry_backend_{index} {{")
    lines += [f"    {j + 1} $ferry_s_{index}_{j};" for j in range(len(candidates))]
    lines += ['    default "";', "}"]
    if mirrors:
        lines.append(f"map $ferry_rule_{index} $ferry_mirror_{index} {{")
        for j, rule in enumerate(candidates):
            if rule.mirror is not None and rule.mirror_percent > 0:
                lines.append(f"    {j + 1} $ferry_m_{index}_{j};")
        lines += ['    default "";', "}"]
    return lines, mirrors


def render(
    routes: Sequence[Route],
    upstreams: Mapping[Backend, Sequence[str]],
    *,
    listen: str,
    unavailable: str,
    prefix: Path,
    user: str | None = None,
    rules: Sequence[Rule] = (),
    problems: list[str] | None = None,
) -> str:
    """The whole ``nginx.conf``: ``listen`` is ``127.0.0.1:PORT``, ``unavailable`` another
    such address answering 503 for backends without endpoints; ``prefix`` holds the logs, the
    pid file and the temporary files; ``upstreams`` the ``ip:port`` addresses of each backend
    (a backend missing from it has none). ``rules``: the HTTPRoutes' (``httproutes``); a
    location an Ingress has already is left to it, and said in ``problems``."""
    lines = []
    if user:
        lines.append(f"user {user};")
    lines += [
        "worker_processes 1;",
        f"pid {prefix / 'nginx.pid'};",
        f"error_log {prefix / 'error.log'} warn;",
        "events { worker_connections 1024; }",
        "http {",
        "    access_log off;",
        f"    client_body_temp_path {prefix / 'tmp' / 'body'};",
        f"    proxy_temp_path {prefix / 'tmp' / 'proxy'};",
        f"    fastcgi_temp_path {prefix / 'tmp' / 'fastcgi'};",
        f"    uwsgi_temp_path {prefix / 'tmp' / 'uwsgi'};",
        f"    scgi_temp_path {prefix / 'tmp' / 'scgi'};",
        f"    log_format ferry escape=json '{LOG_FORMAT}';",
        "    proxy_http_version 1.1;",
        '    proxy_set_header Connection "";',
        "    proxy_set_header Host $host;",
        "    proxy_set_header X-Request-ID $request_id;",
        "    proxy_next_upstream error timeout;",
        "    proxy_next_upstream_tries 3;",
        "    proxy_connect_timeout 5s;",
        f"    server_names_hash_bucket_size {_bucket(routes, rules)};",
    ]
    backends: dict[str, Backend] = {}
    for route in routes:
        backends[upstream_name(route.backend)] = route.backend
        if route.canary is not None:
            backends[upstream_name(route.canary.backend)] = route.canary.backend
    for rule in rules:
        for backend, _ in rule.backends:
            backends[upstream_name(backend)] = backend
        if rule.mirror is not None:
            backends[upstream_name(rule.mirror)] = rule.mirror
    for name, backend in sorted(backends.items()):
        addresses = sorted(upstreams.get(backend) or ())
        lines.append(f"    upstream {name} {{")
        if addresses:
            lines += [f"        server {address} max_fails=0;" for address in addresses]
            lines.append("        keepalive 32;")
        else:
            lines.append(f"        server {unavailable};  # no ready endpoints")
        lines.append("    }")
    for index, route in enumerate(routes):
        if route.canary is not None:
            lines += ["    " + line for line in _choice(index, route)]
    hosts: dict[str, list[tuple[int, Route]]] = {}
    for index, route in enumerate(routes):
        hosts.setdefault(route.host, []).append((index, route))
    hosts.setdefault("", [])
    for rule in rules:
        hosts.setdefault(rule.host, [])
    # the HTTPRoutes' locations, per host (a route without hostnames serves every host)
    located: dict[str, list[tuple[int, str, bool, bool]]] = {}
    counter = len(routes)
    for host in sorted(hosts):
        taken = {(path, exact) for _, _, path, exact in _ingress_locations(hosts[host])}
        mine = [r for r in rules if r.host in (host, "")]
        for path, exact in _locations(mine):
            if (path, exact) in taken:  # the same nginx location: the Ingress keeps it
                if problems is not None:
                    problems.append(
                        f"{host or '*'}{path}: an Ingress routes it; HTTPRoute left out"
                    )
                continue
            candidates = sorted((r for r in mine if r.covers(path, exact)), key=Rule.precedence)
            if not candidates:
                continue
            choice, mirrors = _rule_choice(counter, candidates)
            lines += ["    " + line for line in choice]
            located.setdefault(host, []).append((counter, path, exact, mirrors))
            counter += 1
    for host, entries in sorted(hosts.items()):
        lines.append("    server {")
        if host:
            lines += [f"        listen {listen};", f"        server_name {host};"]
        else:
            lines += [f"        listen {listen} default_server;", "        server_name _;"]
        lines.append(f"        access_log {prefix / 'access.log'} ferry;")
        for variable in ("namespace", "ingress", "service", "path", "upstream", "canary"):
            lines.append(f'        set $ferry_{variable} "";')
        for index, route, path, exact in sorted(
            _ingress_locations(entries), key=lambda e: (-len(e[2]), e[3])
        ):
            modifier = "= " if exact else ""
            lines.append(f"        location {modifier}{quote(path)} {{")
            namespace, name = route.ingress.split("/", 1)
            lines.append(f"            set $ferry_namespace {quote(namespace)};")
            lines.append(f"            set $ferry_ingress {quote(name)};")
            lines.append(f"            set $ferry_service {quote(route.backend.service)};")
            lines.append(f"            set $ferry_path {quote(route.path)};")
            if route.canary is None:
                target = upstream_name(route.backend)
                lines.append(f"            set $ferry_upstream {target};")
            else:
                lines.append(f"            set $ferry_upstream $ferry_backend_{index};")
                alternative = upstream_name(route.canary.backend)
                lines.append(
                    f"            if ($ferry_upstream = {alternative}) "
                    f"{{ set $ferry_canary {alternative}; }}"
                )
            lines.append("            proxy_pass http://$ferry_upstream;")
            lines.append("        }")
        for index, path, exact, mirrors in located.get(host, []):
            modifier = "= " if exact else ""
            lines.append(f"        location {modifier}{quote(path)} {{")
            lines.append(f'            if ($ferry_rule_{index} = "") {{ return 404; }}')
            lines.append(f"            if ($ferry_backend_{index} = none) {{ return 500; }}")
            lines.append(f"            set $ferry_upstream $ferry_backend_{index};")
            if mirrors:
                lines.append(f"            mirror /_ferry_mirror_{index};")
            lines.append("            proxy_pass http://$ferry_upstream;")
            lines.append("        }")
            if mirrors:
                lines += [
                    f"        location = /_ferry_mirror_{index} {{",
                    "            internal;",
                    f'            if ($ferry_mirror_{index} = "") {{ return 204; }}',
                    f"            proxy_pass http://$ferry_mirror_{index}$request_uri;",
                    "        }",
                ]
        rooted = any(p == "/" and not e for _, _, p, e in _ingress_locations(entries)) or any(
            path == "/" and not exact for _, path, exact, _ in located.get(host, [])
        )
        if not rooted:  # no route for it: 404, as ingress-nginx's default backend answers
            lines.append("        location / { return 404; }")
        lines.append("    }")
    lines += [
        "    server {  # what a backend without ready endpoints answers, as ingress-nginx",
        f"        listen {unavailable};",
        "        access_log off;",
        f"        include {prefix / GENERATION};  # which configuration is loaded",
        "        location / { return 503; }",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"
