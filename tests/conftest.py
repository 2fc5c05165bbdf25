"""Shared pytest fixtures: each section gives tests one real component of the local runtime.

Fixtures here start real things (a real ``redis-server``, ...); nothing is faked.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from local import redis_server as local_redis

# -- Redis ------------------------------------------------------------------------------------
# One real Redis per test session: REDIS_URL if set, else a redis-server started for the session
# (stopped when the session ends). Every test that asks for ``redis_client`` starts from an empty
# database: the URL's database is flushed before the test, so never point REDIS_URL at data you
# want to keep.


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """URL of the session's Redis (``redis://127.0.0.1:PORT/0``, or ``$REDIS_URL``)."""
    url, server = local_redis.url_from_env_or_start()
    try:
        yield url
    finally:
        if server is not None:
            server.stop()


@pytest.fixture
def redis_client(redis_server: str) -> Iterator[redis.Redis]:
    """A ``redis.Redis`` (bytes replies) on the session's Redis, its database flushed first."""
    client = redis.Redis.from_url(redis_server, decode_responses=False)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


# -- Prometheus -------------------------------------------------------------------------------
# A real Prometheus (Debian package ``prometheus``) scraping a metrics endpoint the tests
# control; started once per session, only by the tests that ask for it.
from tests.prometheus import metrics, prometheus  # noqa: E402, F401
