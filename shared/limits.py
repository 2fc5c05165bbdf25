"""How many bytes an entry point reads, and reading no more than that.

Every HTTP entry point (a function, the local Broker) reads its request body through
:func:`read`, which stops as soon as the body is larger than the limit, whatever the
``Content-Length`` says or whether there is one at all (a chunked body): an oversized request
costs at most the limit in memory and is answered 413. No other policy lives here.
"""

from __future__ import annotations

from typing import IO

MAX_EVENT_BYTES = 4 * 1024 * 1024
"""The largest CloudEvent Ferry accepts: an ApiServerSource event carries a whole Kubernetes
object (etcd keeps objects up to 1.5 MiB) in a JSON envelope."""
CHUNK = 64 * 1024


class TooLarge(ValueError):
    """The body is larger than the limit (answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


def read(stream: IO[bytes], limit: int = MAX_EVENT_BYTES, *, declared: int | None = None) -> bytes:
    """The body from ``stream``, at most ``limit`` bytes; TooLarge past that (or at once when
    the declared ``Content-Length`` is already larger)."""
    if declared is not None and declared > limit:
        raise TooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(min(CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise TooLarge(limit)
        chunks.append(chunk)
