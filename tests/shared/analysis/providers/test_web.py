"""The ``web`` provider against a real local HTTP server.

Covers: a JSON answer read whole or through ``jsonPath`` (one match, several matches, none),
headers reach the server, POST/PUT bodies (string and JSON) arrive intact, a non-JSON answer,
non-2xx answers say the status and keep the body apart, a slow server times out, an unreachable
one fails, bad config (method, body with GET, jsonPath) is refused before any request, and
secrets in headers and URLs stay out of messages.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from shared.analysis import providers
from shared.analysis.providers import MeasurementRef, ProviderError
from tests.prometheus import free_port

REF = MeasurementRef(namespace="default", run="run-1", metric="web-check", index=0)
DOCUMENT = {"data": {"ok": True, "rate": 0.97, "items": [{"v": 1}, {"v": 2}]}}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    url: str
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(url="")

    class Handler(BaseHTTPRequestHandler):
        def answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle_any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.received.append(
                Received(self.command, self.path, dict(self.headers.items()), body)
            )
            if self.path == "/slow":
                state.release.wait(5)
            if self.path.startswith("/status/"):
                status = int(self.path.split("?")[0].rsplit("/", 1)[1])
                self.answer(status, b"backend unavailable " + b"x" * 400, "text/plain")
            elif self.path == "/text":
                self.answer(200, b"all good", "text/plain")
            elif self.path == "/echo":
                echoed = {"method": self.command, "body": body.decode()}
                self.answer(200, json.dumps(echoed).encode(), "application/json")
            else:
                self.answer(200, json.dumps(DOCUMENT).encode(), "application/json")

        do_GET = do_POST = do_PUT = handle_any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()


def measure(**config: Any) -> Any:
    return providers.get("web").measure(config, REF)


def test_whole_json_document_without_json_path(server: Server) -> None:
    assert measure(url=f"{server.url}/metrics").value == DOCUMENT


def test_json_path_one_match_is_the_value(server: Server) -> None:
    assert measure(url=f"{server.url}/metrics", jsonPath="{$.data.rate}").value == 0.97
    assert measure(url=f"{server.url}/metrics", jsonPath="{$.data.ok}").value is True


def test_json_path_several_matches_are_a_list(server: Server) -> None:
    assert measure(url=f"{server.url}/metrics", jsonPath="{$.data.items[*].v}").value == [1, 2]


def test_json_path_without_match_is_no_data(server: Server) -> None:
    observation = measure(url=f"{server.url}/metrics", jsonPath="{$.data.missing}")

    assert observation.value is None
    assert "selected nothing" in observation.message


def test_headers_reach_the_server(server: Server) -> None:
    headers = [
        {"key": "Authorization", "value": "Bearer s3cret"},
        {"key": "X-Scope", "value": "canary"},
    ]
    measure(url=f"{server.url}/metrics", headers=headers)

    (received,) = server.received
    assert received.method == "GET"
    assert received.headers["Authorization"] == "Bearer s3cret"
    assert received.headers["X-Scope"] == "canary"


def test_post_string_body_arrives_as_sent(server: Server) -> None:
    observation = measure(
        url=f"{server.url}/echo",
        method="POST",
        body='{"q": "error_rate"}',
        headers=[{"key": "Content-Type", "value": "application/json"}],
        jsonPath="{$.body}",
    )

    assert observation.value == '{"q": "error_rate"}'
    (received,) = server.received
    assert received.method == "POST" and received.headers["Content-Type"] == "application/json"


def test_put_json_body_is_encoded(server: Server) -> None:
    measure(url=f"{server.url}/echo", method="put", body={"window": "5m", "ids": [1, 2]})

    (received,) = server.received
    assert received.method == "PUT"
    assert json.loads(received.body) == {"window": "5m", "ids": [1, 2]}
    assert received.headers["Content-Type"] == "application/json"


def test_text_answer_without_json_path_is_the_text(server: Server) -> None:
    assert measure(url=f"{server.url}/text").value == "all good"


def test_text_answer_with_json_path_is_an_error(server: Server) -> None:
    with pytest.raises(ProviderError, match="did not answer JSON"):
        measure(url=f"{server.url}/text", jsonPath="{$.ok}")


def test_non_2xx_says_the_status_and_keeps_the_body_apart(server: Server) -> None:
    with pytest.raises(ProviderError) as raised:
        measure(url=f"{server.url}/status/503?token=hidden", headers={"X-Api-Key": "k3y"})

    error = raised.value
    assert str(error) == f"GET {server.url}/status/503 answered HTTP 503 Service Unavailable"
    assert error.detail == "backend unavailable " + "x" * 400  # whole: cut only once redacted
    assert error.report == f"{error}: {error.detail}"
    assert "hidden" not in error.report and "k3y" not in error.report


def test_slow_server_times_out(server: Server) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"did not answer within 0\.2s"):
        measure(url=f"{server.url}/slow", timeoutSeconds=0.2)
    assert time.monotonic() - started < 2.0


def test_unreachable_server_is_an_error() -> None:
    with pytest.raises(ProviderError, match="Connection refused"):
        measure(url=f"http://127.0.0.1:{free_port()}/")


def test_given_session_is_used(server: Server) -> None:
    session = requests.Session()
    session.headers["X-From-Session"] = "yes"
    provider = providers.get("web", session=session)

    provider.measure({"url": f"{server.url}/metrics"}, REF)

    assert server.received[0].headers["X-From-Session"] == "yes"


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"url": "ftp://example"}, "http:// or https://"),
        ({"url": "http://127.0.0.1:1/", "method": "DELETE"}, "method must be one of"),
        ({"url": "http://127.0.0.1:1/", "body": "x"}, "only be sent with POST or PUT"),
        ({"url": "http://127.0.0.1:1/", "jsonPath": "data.ok"}, "unsupported JSONPath"),
        ({"url": "http://127.0.0.1:1/", "timeoutSeconds": "soon"}, "invalid timeout"),
    ],
)
def test_bad_config_is_refused(config: dict[str, Any], error: str) -> None:
    with pytest.raises(ProviderError, match=error):
        measure(**config)
