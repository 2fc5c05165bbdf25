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

from collections.abc import Mapping, Sequence
from pathlib import Path

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
        if canary.header_value:
            lines.append(f"    {quote(canary.header_value)} canary;")
        elif canary.header_pattern:
            lines.append(f"    {quote('~' + canary.header_pattern)} canary;")
        else:
            lines += ['    "always" canary;', '    "never" primary;']
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
        if percent > 0:
            lines.append(f"    {percent:.2f}% canary;")
        lines.append("    * primary;")
    lines.append("}")
    lines += [
        f'map "{header}{cookie}{weight}" $ferry_backend_{index} {{',
        f"    ~^canary {alternative};",
        f"    default {main};",
        "}",
    ]
    return lines


def render(
    routes: Sequence[Route],
    upstreams: Mapping[Backend, Sequence[str]],
    *,
    listen: str,
    unavailable: str,
    prefix: Path,
    user: str | None = None,
) -> str:
    """The whole ``nginx.conf``: ``listen`` is ``127.0.0.1:PORT``, ``unavailable`` another
    such address answering 503 for backends without endpoints; ``prefix`` holds the logs, the
    pid file and the temporary files; ``upstreams`` the ``ip:port`` addresses of each backend
    (a backend missing from it has none)."""
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
        "    server_names_hash_bucket_size 128;",
    ]
    backends: dict[str, Backend] = {}
    for route in routes:
        backends[upstream_name(route.backend)] = route.backend
        if route.canary is not None:
            backends[upstream_name(route.canary.backend)] = route.canary.backend
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
    for host, entries in sorted(hosts.items()):
        lines.append("    server {")
        if host:
            lines += [f"        listen {listen};", f"        server_name {host};"]
        else:
            lines += [f"        listen {listen} default_server;", "        server_name _;"]
        lines.append(f"        access_log {prefix / 'access.log'} ferry;")
        for variable in ("namespace", "ingress", "service", "path", "upstream", "canary"):
            lines.append(f'        set $ferry_{variable} "";')
        for index, route in sorted(entries, key=lambda e: -len(e[1].path)):
            modifier = "= " if route.exact else ""
            lines.append(f"        location {modifier}{quote(route.path)} {{")
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
        lines.append("    }")
    lines += [
        "    server {  # what a backend without ready endpoints answers, as ingress-nginx",
        f"        listen {unavailable};",
        "        access_log off;",
        "        return 503;",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"
