"""The open-loop load generator against a real HTTP server: the rate it is asked for, missed
requests counted (never sent late) when every slot waits, answers sorted into ok and errors,
and a stop within a second of being told."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.loadgen import Generator, Shape, Target


class Server:
    """Answers every GET after ``delay`` seconds with ``status``, counting requests and
    keeping each one's path and headers."""

    def __init__(self) -> None:
        self.delay, self.status, self.hits = 0.0, 200, 0
        self.seen: list[tuple[str, dict[str, str]]] = []
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with lock:
                    server.hits += 1
                    server.seen.append((self.path, dict(self.headers)))
                time.sleep(server.delay)
                self.send_response(server.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up (a timeout test)
                    self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    started = Server()
    yield started
    started.close()


def test_it_sends_the_rate_asked_to_every_path_in_turn_with_its_headers(server: Server) -> None:
    shape = Shape(rps=50, concurrency=4, headers=(("X-Load", "ferry"),), paths=("/a", "/b?q=1"))
    totals = Generator().run([Target(server.base, "podinfo.default.svc:80")], shape, 2.0)
    assert 95 <= totals.sent <= 101 and totals.missed == 0, totals
    assert totals.ok == totals.sent == server.hits and totals.errors == 0
    assert totals.codes == {"2xx": totals.sent}
    paths = [path for path, _ in server.seen]
    assert paths[:4] == ["/a", "/b?q=1", "/a", "/b?q=1"]
    headers = server.seen[0][1]
    assert headers["X-Load"] == "ferry" and headers["Host"] == "podinfo.default.svc:80"
    assert 45 <= totals.rate <= 51, totals.rate


def test_a_slow_target_is_not_given_less_load_the_excess_is_missed(server: Server) -> None:
    """Open loop: at 40 rps and 2 requests waiting at most on a target answering in 200 ms,
    about 10 a second get through; the rest are counted as missed, not queued."""
    server.delay = 0.2
    totals = Generator().run([Target(server.base)], Shape(rps=40, concurrency=2), 2.0)
    assert 14 <= totals.sent <= 24, totals
    assert totals.missed >= 50 and totals.sent + totals.missed >= 78, totals


def test_answers_5xx_refused_connections_and_timeouts_are_errors(server: Server) -> None:
    server.status = 503
    totals = Generator().run([Target(server.base)], Shape(rps=20, concurrency=2), 0.5)
    assert totals.errors == totals.sent > 0 and totals.codes == {"5xx": totals.sent}
    server.status, server.delay = 200, 1.0
    slow = Generator().run([Target(server.base)], Shape(rps=10, concurrency=5, timeout=0.2), 0.5)
    assert slow.codes["timeout"] == slow.sent > 0, slow
    closed = Server()
    closed.close()
    refused = Generator().run([Target(closed.base)], Shape(rps=10, concurrency=2), 0.5)
    assert refused.codes["failed"] == refused.sent > 0, refused


def test_it_stops_within_a_second_of_being_told(server: Server) -> None:
    stop_at = time.monotonic() + 0.5
    began = time.monotonic()
    totals = Generator().run(
        [Target(server.base)],
        Shape(rps=20, concurrency=2),
        30.0,
        lambda: time.monotonic() < stop_at,
    )
    assert time.monotonic() - began < 2.0
    assert totals.sent <= 32, totals


def test_it_refuses_an_empty_load() -> None:
    with pytest.raises(ValueError, match="at least one target"):
        Generator().run([], Shape(rps=10, concurrency=1), 1.0)
