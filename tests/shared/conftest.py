"""Fixtures for the library's tests: a function's Context on a real Redis.

``context`` has a real state store and timers (Redis, flushed per test) and a Kubernetes client
that is never called: the handlers these tests serve do not touch Kubernetes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from kubernetes import client

from shared.context import Context
from shared.kube import Kube
from shared.state import StateStore
from shared.timers import Timers

NOWHERE = "http://127.0.0.1:9/"
"""A broker URL nothing listens on: these handlers never send anything."""


@pytest.fixture
def context(redis_client: redis.Redis) -> Iterator[Context]:
    api = client.ApiClient()  # never called
    try:
        yield Context(
            kube=Kube(api),
            store=StateStore(redis_client),
            timers=Timers(redis_client, NOWHERE, "ferry-test-timers"),
            broker_url=NOWHERE,
        )
    finally:
        api.close()  # type: ignore[no-untyped-call]
