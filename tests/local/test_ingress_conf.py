"""The ingress controller's configuration: whatever an Ingress's annotations, hosts and paths
say, the text nginx gets is valid and carries no directive the user wrote (``nginx -t`` on
Hypothesis' examples), and what cannot be carried is reported."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.ingress import conf, httproutes, routes

NGINX = shutil.which("nginx")
if NGINX is None:
    pytest.fail("nginx is not installed: the ingress tests need it (Debian: nginx-light)")


def ingress(name: str, host: str, path: str, annotations: dict[str, str]) -> dict[str, Any]:
    backend = {"service": {"name": name, "port": {"number": 80}}}
    return {
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "spec": {
            "rules": [{"host": host, "http": {"paths": [{"path": path, "backend": backend}]}}]
        },
    }


def nginx_accepts(text: str, prefix: Path) -> subprocess.CompletedProcess[str]:
    (prefix / "tmp").mkdir(exist_ok=True)
    (prefix / conf.GENERATION).write_text(conf.generation(1))
    path = prefix / "nginx.conf"
    path.write_text(text)
    assert NGINX is not None
    return subprocess.run(
        [NGINX, "-t", "-q", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(path)],
        capture_output=True,
        text=True,
    )


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    host=st.one_of(st.just("app.example.com"), text),
    path=st.one_of(st.just("/"), text),
    header=st.one_of(st.just("X-Canary"), text),
    value=text,
    pattern=text,
    cookie=st.one_of(st.just("canary"), text),
    weight=st.one_of(st.integers(-5, 200).map(str), text),
)
def test_any_annotations_render_a_configuration_nginx_accepts(
    tmp_path: Path,
    host: str,
    path: str,
    header: str,
    value: str,
    pattern: str,
    cookie: str,
    weight: str,
) -> None:
    annotations = {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-by-header": header,
        "nginx.ingress.kubernetes.io/canary-by-header-value": value,
        "nginx.ingress.kubernetes.io/canary-by-header-pattern": pattern,
        "nginx.ingress.kubernetes.io/canary-by-cookie": cookie,
        "nginx.ingress.kubernetes.io/canary-weight": weight,
    }
    table = routes.table(
        [ingress("main", host, path, {}), ingress("canary", host, path, annotations)]
    )
    rendered = conf.render(
        table.routes,
        {},
        listen="127.0.0.1:18080",
        unavailable="127.0.0.1:18081",
        prefix=tmp_path,
    )
    checked = nginx_accepts(rendered, tmp_path)
    assert checked.returncode == 0, (checked.stderr, rendered)


def test_what_cannot_be_carried_is_reported() -> None:
    table = routes.table(
        [
            ingress("main", "app.example.com", "/", {}),
            ingress("bad-host", "app example.com", "/", {}),
            ingress("bad-path", "app.example.com", '/x"; return 200', {}),
            ingress(
                "canary",
                "app.example.com",
                "/",
                {
                    "nginx.ingress.kubernetes.io/canary": "true",
                    "nginx.ingress.kubernetes.io/canary-by-header-pattern": "(",
                    "nginx.ingress.kubernetes.io/canary-by-header": "X-A",
                    "nginx.ingress.kubernetes.io/canary-by-cookie": "a;b",
                },
            ),
            ingress(
                "orphan", "other.example.com", "/", {"nginx.ingress.kubernetes.io/canary": "true"}
            ),
        ]
    )
    assert [route.ingress for route in table.routes] == ["default/main"]
    assert table.routes[0].canary is not None and table.routes[0].canary.header == "X-A"
    assert table.routes[0].canary.header_pattern == ""
    assert table.problems == [
        "default/bad-host: host 'app example.com' ignored",
        "default/bad-path: path '/x\"; return 200' ignored",
        "default/canary: canary-by-header-pattern ignored "
        "(missing ), unterminated subpattern at position 0)",
        "default/canary: canary-by-cookie 'a;b' ignored (not a cookie name)",
        "default/orphan: a canary of no Ingress (other.example.com/)",
    ]


def test_httproutes_are_checked_as_ingresses_are() -> None:
    """The same names, paths and ports an Ingress may carry, no more."""
    route = {
        "metadata": {"name": "shop", "namespace": "default"},
        "spec": {
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/price$"}}],
                    "backendRefs": [{"name": "shop", "port": 80}],
                },
                {"backendRefs": [{"name": "shop;x", "port": 80}]},
                {"backendRefs": [{"name": "shop", "port": "80"}]},
                {"backendRefs": [{"name": "shop", "port": 70000}]},
            ]
        },
    }
    problems: list[str] = []
    found = httproutes.rules([route], problems)
    assert problems == [
        "default/shop: rules[0].matches[0]: path PathPrefix '/price$' left out",
        "default/shop: rules[1]: a backend that is not a Service",
        "default/shop: rules[2]: a backend that is not a Service",
        "default/shop: rules[3]: a backend that is not a Service",
    ]
    assert [r.backends for r in found] == [(), (), ()]
