"""Reading a request body with a limit (``shared.limits``), as every entry point does.

Covered: a body within the limit is read whole; a chunked body (no length) larger than the
limit is refused after reading at most the limit and one chunk, however large it is; a declared
length over the limit is refused before anything is read; a function answers 413 to both over
real HTTP, and its handler never runs.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import pytest
import requests
from cloudevents.core.v1.event import CloudEvent
from werkzeug.serving import make_server

from shared import events, limits
from shared.context import Context
from shared.endpoint import create_app
from shared.events import RolloutRef, Type


class Endless(io.RawIOBase):
    """A stream of ``total`` bytes that counts what was read from it."""

    def __init__(self, total: int) -> None:
        self.left, self.taken = total, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = min(self.left, 1 << 20 if size < 0 else size)
        self.left -= n
        self.taken += n
        return b"x" * n


def test_a_body_within_the_limit_is_read_whole() -> None:
    assert limits.read(io.BytesIO(b"abc" * 1000), 3000) == b"abc" * 1000


def test_a_large_body_without_a_length_is_refused_after_the_limit() -> None:
    stream = Endless(100 * 1024 * 1024)
    with pytest.raises(limits.TooLarge):
        limits.read(stream, 1024 * 1024)
    assert stream.taken <= 1024 * 1024 + limits.CHUNK


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    stream = Endless(10)
    with pytest.raises(limits.TooLarge):
        limits.read(stream, 5, declared=10)
    assert stream.taken == 0


@pytest.fixture
def function(context: Context) -> Iterator[tuple[str, list[CloudEvent]]]:
    seen: list[CloudEvent] = []

    def handler(event: CloudEvent, ctx: Context) -> CloudEvent | None:
        seen.append(event)
        return None

    server = make_server("127.0.0.1", 0, create_app("probe", handler, context), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", seen
    finally:
        server.shutdown()


def _chunks(total: int) -> Iterator[bytes]:
    for _ in range(total // 65536):
        yield b"x" * 65536


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "declared"])
def test_a_function_answers_413_to_an_oversized_event(
    function: tuple[str, list[CloudEvent]], chunked: bool
) -> None:
    url, seen = function
    headers, _ = events.to_http(events.new(Type.TICK, RolloutRef("a", "b")))
    body = _chunks(64 * 1024 * 1024) if chunked else b"x" * (limits.MAX_EVENT_BYTES + 1)
    try:
        status = requests.post(url, headers=headers, data=body, timeout=60).status_code
    except requests.ConnectionError:  # answered and closed while we were still sending
        status = 413
    assert status == 413
    assert seen == []
