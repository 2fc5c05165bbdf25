"""Secret arguments never leave a run, whatever its sources echo: end to end, through the whole
local runtime.

A Secret holds four values; an analysis uses them in web metrics (URL query and Basic
credentials, headers, JSON body) against a hostile endpoint that echoes the whole request in
every form a server might (whole, percent-escaped in every flavour, JSON and Go escapes, HTML,
base64, truncated in the middle of a secret) in 200, 400, 404 and 500 answers and in a JSON
field read by ``jsonPath``; in Prometheus metrics against a fake Prometheus that echoes the
query the same ways in its error, its ``errorType``, its warnings, its result type and a plain
500; and in a query the real Prometheus rejects, quoting part of the secret. The first analysis
(dry runs only) completes, the second fails on the real Prometheus' parse error and the rollout
aborts with its verdict. Then every Redis key of every type (RQ jobs decompressed), every
version of every API object the simulator committed and every log record at DEBUG are searched
for each secret in every form: nothing. And the messages still say what went wrong.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import redis
from _pytest.logging import LogCaptureHandler

from local import demo
from local.runtime import Runtime
from local.sim.events import Event
from shared import models
from shared.analysis import model, runs
from shared.analysis.arguments import MASK
from shared.state import Stage
from tests.flow.conftest import Demo, let_analyses_read_secrets
from tests.prometheus import Prometheus
from tests.shared.analysis import leaks

SECRETS = {
    "token": 'Zq8-hunter2+Kx/9=ab é"<q>&',
    "password": "Bq7vT2mLx9Rk4Wn8",
    "pin": "Wx7Qz",
    "promkey": "Pk7hunter2Lx9cd-x/y+z=w",
}
"""Made up, and treated as real: never printed, even when a test fails."""
FORMS = [*leaks.ENCODERS, "wire", "base64", "truncated"]
"""How the hostile endpoints echo what they were sent."""
WEB_STATUSES = [404, 400, 500, 200]
PROMETHEUS_MODES = ["error", "warnings", "plain", "result-type", "error-type"]


def echoed(form: str, text: str, wire: str) -> str:
    """``text`` (what a request said) as a hostile endpoint echoes it in ``form``."""
    if form == "wire":
        return wire
    if form == "base64":
        return base64.b64encode(text.encode()).decode()
    if form == "truncated":  # cut 10 characters into the first secret
        return text[: text.index("token=") + len("token=") + 10]
    return leaks.ENCODERS[form](text)


@dataclass
class Hostile:
    host: str = ""
    """``127.0.0.1:PORT``"""
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    """``/web/<status>/<form>``: answers ``status`` with the whole request echoed in ``form``
    (200: JSON, read with jsonPath; 203: the same as text; 400: text; 404: an HTML page; 500:
    JSON). ``/prometheus/<mode>/<form>/api/v1/query``: a Prometheus echoing the query."""
    state = Hostile()

    class Handler(BaseHTTPRequestHandler):
        def answer(self, status: int, body: str, content_type: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def handle_any(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(size).decode() if size else ""
            path = urlsplit(self.path)
            parts = path.path.strip("/").split("/")
            state.hits.append(path.path)
            heard = " | ".join(f"{k}: {v}" for k, v in self.headers.items())
            if parts[0] == "prometheus":
                self.prometheus(parts[1], parts[2], parse_qs(path.query), heard)
                return
            status, form = int(parts[1]), parts[2]
            text = f"{self.command} {unquote(self.path)} | {heard} | body: {body}"
            wire = f"{self.command} {self.path} | {heard} | body: {body}"
            forms = {name: echoed(name, text, wire) for name in FORMS}
            echo = forms.get(form, "")  # "all": the forms only
            if status == 200:
                self.answer(200, json.dumps({"echo": echo, "forms": forms}), "application/json")
            elif status == 203:
                self.answer(200, echo, "text/plain")
            elif status == 404:
                page = f"<html><body><h1>Not Found</h1><p>{echo}</p></body></html>"
                self.answer(404, page, "text/html")
            elif status == 500:
                self.answer(500, json.dumps({"error": echo}), "application/json")
            else:
                self.answer(status, echo, "text/plain")

        def prometheus(self, mode: str, form: str, query: dict[str, list[str]], heard: str) -> None:
            text = f"query: {query['query'][0]} | {heard}"
            echo = echoed(form, text, text)
            parse = f'invalid parameter "query": 1:12: parse error: unexpected identifier {echo}'
            empty = {"resultType": "vector", "result": []}
            answers: dict[str, tuple[int, Any]] = {
                "error": (400, {"status": "error", "errorType": "bad_data", "error": parse}),
                "warnings": (200, {"status": "success", "data": empty, "warnings": [echo]}),
                "plain": (500, echo),
                "result-type": (
                    200,
                    {"status": "success", "data": {"resultType": echo, "result": []}},
                ),
                "error-type": (422, {"status": "error", "errorType": echo, "error": echo}),
            }
            status, body = answers[mode]
            if isinstance(body, str):
                self.answer(status, body, "text/plain")
            else:
                self.answer(status, json.dumps(body), "application/json")

        do_GET = do_POST = do_PUT = handle_any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.host = f"127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def secret_args() -> list[dict[str, Any]]:
    return [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": "api", "key": name}}}
        for name in SECRETS
    ]


def web_metric(name: str, host: str, status: int, form: str) -> dict[str, Any]:
    metric: dict[str, Any] = {
        "name": name,
        "count": 1,
        "consecutiveErrorLimit": 0,
        "provider": {
            "web": {
                "url": f"http://ferry:{{{{args.password}}}}@{host}/web/{status}/{form}"
                "?token={{args.token}}&pin={{args.pin}}",
                "method": "POST",
                "headers": [
                    {"key": "X-Token", "value": "{{args.token}}"},
                    {"key": "X-Pin", "value": "{{args.pin}}"},
                ],
                "jsonBody": {"token": "{{args.token}}", "pin": "{{args.pin}}"},
                "timeoutSeconds": 5,
            }
        },
    }
    if status == 200:
        metric["provider"]["web"]["jsonPath"] = "{$.echo}" if form != "all" else "{$.forms}"
    elif status == 203:
        metric["provider"]["web"]["jsonPath"] = "{$.echo}"
    return metric


def prometheus_metric(name: str, address: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "count": 1,
        "consecutiveErrorLimit": 0,
        "successCondition": "len(result) == 0",
        "provider": {
            "prometheus": {
                "address": address,
                "query": query,
                "timeout": 5,
                "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}],
            }
        },
    }


def echoes_template(host: str) -> dict[str, Any]:
    """Every form at one status or mode each, every status and mode at least once; dry runs,
    so that each is measured whatever the others did."""
    metrics = [
        web_metric(f"web-{i}", host, WEB_STATUSES[i % len(WEB_STATUSES)], form)
        for i, form in enumerate(FORMS)
    ]
    metrics.append(web_metric("web-all", host, 200, "all"))
    metrics.append(web_metric("web-text", host, 203, "raw"))
    metrics += [
        prometheus_metric(
            f"prometheus-{i}",
            f"http://{host}/prometheus/{PROMETHEUS_MODES[i % len(PROMETHEUS_MODES)]}/{form}",
            'up{token="{{args.token}}"}',
        )
        for i, form in enumerate(FORMS)
    ]
    return {
        "apiVersion": models.API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {"name": "echoes", "namespace": demo.NAMESPACE},
        "spec": {"args": secret_args(), "metrics": metrics, "dryRun": [{"metricName": ".*"}]},
    }


def parse_error_template(address: str) -> dict[str, Any]:
    """A query the real Prometheus refuses, quoting the start of ``promkey``."""
    metric = prometheus_metric(
        "promql", address, 'sum(app_error_ratio{case="leak"}) {{args.promkey}}'
    )
    return {
        "apiVersion": models.API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {"name": "promql", "namespace": demo.NAMESPACE},
        "spec": {"args": secret_args(), "metrics": [metric]},
    }


def secret_object() -> dict[str, Any]:
    data = {key: base64.b64encode(value.encode()).decode() for key, value in SECRETS.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "api", "namespace": demo.NAMESPACE},
        "data": data,
    }


# -- the search ---------------------------------------------------------------------------------


def texts(blob: str) -> Iterator[str]:
    """``blob`` and, when it is JSON, every string in it (keys too) that JSON escapes (the
    others show in ``blob`` as they are), JSON within JSON too."""
    yield blob
    try:
        parsed = json.loads(blob)
    except ValueError:
        return
    stack = [parsed]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack += [*node.keys(), *node.values()]
        elif isinstance(node, list):
            stack += node
        elif isinstance(node, str) and (
            json.dumps(node)[1:-1] != node or node.startswith(("{", "[", '"'))
        ):
            yield from texts(node)


def leaked(where: str, blob: str) -> list[str]:
    """``where: secret: forms`` for each secret that shows in ``blob``: names only."""
    found = []
    for name, secret in SECRETS.items():
        forms = sorted({f for text in texts(blob) for f in leaks.shown(secret, text)})
        if forms:
            found.append(f"{where}: {name}: {', '.join(forms)}")
    return found


def as_text(raw: bytes) -> str:
    with contextlib.suppress(zlib.error):
        raw = zlib.decompress(raw)  # RQ keeps a job's data compressed
    return raw.decode("utf-8", "replace")


def redis_blobs(url: str) -> Iterator[tuple[str, str]]:
    """Every key of the runtime's Redis, and every value in it whatever its type."""
    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(count=500):
            name = as_text(key)
            kind = client.type(key).decode()
            values: list[bytes] = []
            if kind == "none":  # expired since the scan saw it
                continue
            if kind == "string":
                values = [client.get(key) or b""]
            elif kind == "hash":
                values = [b for pair in client.hgetall(key).items() for b in pair]
            elif kind == "list":
                values = client.lrange(key, 0, -1)
            elif kind == "set":
                values = list(client.smembers(key))
            elif kind == "zset":
                values = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
            elif kind == "stream":
                values = [
                    b for _, entry in client.xrange(key) for pair in entry.items() for b in pair
                ]
            else:
                pytest.fail(f"Redis key {name} has a type the search does not read: {kind}")
            yield f"redis key {name}", name
            for value in values:
                yield f"redis {kind} {name}", as_text(value)
    finally:
        client.close()


class Commits:
    """Every version of every object the simulator committed, Secrets left out."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        obj = event.obj or {}
        if event.key[1] == "secrets":
            return
        meta = obj.get("metadata") or {}
        where = f"{event.key[1]} {meta.get('namespace')}/{meta.get('name')}"
        with self._lock:
            self.seen.append((where, json.dumps(obj)))


# -- the test -----------------------------------------------------------------------------------


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """``caplog`` at DEBUG for every logger. pytest's own copy of the log, which it prints when a
    test fails, records nothing meanwhile: were a secret logged, it would print it."""
    caplog.set_level(logging.DEBUG)
    printed = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, LogCaptureHandler) and handler is not caplog.handler
    ]
    levels = [handler.level for handler in printed]
    for handler in printed:
        handler.setLevel(logging.CRITICAL + 1)
    try:
        yield caplog
    finally:
        for handler, level in zip(printed, levels, strict=True):
            handler.setLevel(level)


def search(runtime: Runtime, commits: Commits, logs: pytest.LogCaptureFixture) -> list[str]:
    """Where any secret shows: Redis, the simulator (every version committed, and what is
    stored now), the log."""
    assert runtime.sim is not None
    found: list[str] = []
    for where, blob in redis_blobs(runtime.redis_url):
        found += leaked(where, blob)
    for where, blob in commits.seen:
        found += leaked(f"committed {where}", blob)
    for rt, obj in runtime.sim.store.all_objects():
        if rt.plural != "secrets":
            meta = obj["metadata"]
            where = f"stored {rt.plural} {meta.get('namespace')}/{meta['name']}"
            found += leaked(where, json.dumps(obj))
    found += leaked("log", logs.text)
    for record in logs.records:
        found += leaked(f"log record of {record.name}", record.getMessage())
    return found


def test_secrets_echoed_by_sources_are_stored_nowhere(
    runtime: Runtime, podinfo: Demo, hostile: Hostile, prometheus: Prometheus, logs: Any
) -> None:
    assert runtime.sim is not None
    commits = Commits()
    runtime.sim.store.on_commit(commits)
    podinfo.kube.create(secret_object())
    let_analyses_read_secrets(podinfo.kube)
    podinfo.kube.create(echoes_template(hostile.host))
    podinfo.kube.create(parse_error_template(prometheus.url))
    strategy = {
        "canary": {
            "steps": [
                {"setWeight": 20},
                {"analysis": {"templates": [{"templateName": "echoes"}]}},
                {"analysis": {"templates": [{"templateName": "promql"}]}},
            ],
            "abortScaleDownDelaySeconds": 1,
        }
    }
    podinfo.create(strategy=strategy)
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")

    aborted = podinfo.wait(Stage.ABORTED, timeout=90)

    # every failure below names what and where, never a message: it might hold a secret
    problems = search(runtime, commits, logs)
    assert len(commits.seen) > 50 and len(logs.records) > 100  # the search saw something
    by_step = {run.step: run for run in runs.runs_of(aborted).values()}
    echoes, promql = by_step[1], by_step[2]
    assert echoes.phase == model.AnalysisPhase.SUCCESSFUL  # dry runs only
    assert {name for name, ms in echoes.measurements.items() if ms} == {
        m["name"] for m in echoes_template(hostile.host)["spec"]["metrics"]
    }
    assert promql.phase == model.AnalysisPhase.ERROR and aborted.reason == "AnalysisError"
    (error,) = promql.measurements["promql"]
    said = re.escape(f"Prometheus at {prometheus.url} answered HTTP 400 Bad Request, bad_data: ")
    parse_error = (
        said + r'invalid parameter "query": 1:\d+: parse error: unexpected identifier "\*{5}"'
    )
    if not re.fullmatch(parse_error, error.message):
        problems.append("promql: the message is not Prometheus' parse error, secret masked")
    if error.message not in aborted.message:
        problems.append("promql: the rollout's message does not give the run's error")
    web_404 = echoes.measurements["web-0"][0].message
    answered = f"POST http://{hostile.host}/web/404/raw answered HTTP 404 Not Found: <html>"
    if not (web_404.startswith(answered) and MASK in web_404 and len(web_404) <= 256):
        problems.append("web-0: the message is not the status and a short, masked excerpt")
    assert not problems, "\n".join(problems)
