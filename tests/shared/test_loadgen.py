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
        self.trickle = 0.0
        """Seconds between the bytes of a long body (0: a short body at once)."""
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
                if server.trickle:
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    with contextlib.suppress(OSError):
                        for _ in range(100):
                            self.wfile.write(b"x")
                            self.wfile.flush()
                            time.sleep(server.trickle)
                    return
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


def test_a_run_ends_in_its_time_even_when_a_body_trickles(server: Server) -> None:
    """A body sent a byte at a time cannot hold a run (a slice) past its requests' timeout."""
    server.trickle = 0.3
    began = time.monotonic()
    totals = Generator().run([Target(server.base)], Shape(rps=4, concurrency=4, timeout=1.0), 1.0)
    assert time.monotonic() - began < 1.0 + 1.0 + 0.5 + 0.5, time.monotonic() - began
    assert totals.codes["timeout"] == totals.sent > 0, totals


def test_a_stalled_loop_misses_what_it_could_not_send_in_time(server: Server) -> None:
    """When the loop itself stalls (here: 3 s in its first check, a quarter of a second in),
    what fell due more than a second before it could be sent is counted as missed (about 40
    of the 60 due meanwhile), not sent late; every request due is either sent or missed."""
    stalled = []

    def slow_check() -> bool:
        if not stalled:
            stalled.append(time.sleep(3.0))
        return True

    totals = Generator().run([Target(server.base)], Shape(rps=20, concurrency=8), 4.0, slow_check)
    # at least those due from 0.25 s to 1 s before it resumed (about 40; a busier machine
    # only stalls it more); and all 80 due requests are either sent or missed
    assert totals.missed >= 30 and totals.sent + totals.missed == 80, totals


def test_a_header_that_cannot_be_sent_is_an_error_said_once_by_kind(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    shape = Shape(rps=10, concurrency=2, headers=(("X-Token", "s3cr\u00e9t\u20ac"),))
    totals = Generator().run([Target(server.base)], shape, 0.5)
    assert totals.codes == {"failed": totals.sent} and totals.sent > 0
    said = [r.getMessage() for r in caplog.records if r.name == "shared.loadgen"]
    assert said == ["load: a request could not be sent (UnicodeEncodeError)"], said
    assert "s3cr" not in caplog.text  # never a header's value
