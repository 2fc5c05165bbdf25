"""Only Ferry's own identities may send events, to the Broker and to each function.

Covered on the full local runtime (every component acting as its ServiceAccount): a POST to
the Broker without a token, with a token of no value or issued for another audience, is 401,
and one of a ServiceAccount outside Ferry's namespace is 403 (the Broker's EventPolicy); a
POST straight to a function without a token, or with one issued for another function, is 401;
none of them changes anything, while the same event with a Ferry identity's token for the
right audience is accepted.
"""

from __future__ import annotations

import contextlib
from uuid import uuid4

import requests
from kubernetes import client

from local.runtime import Runtime
from shared import events
from shared.events import RolloutRef, Type
from tests.flow.conftest import post_to


def _tick() -> events.CloudEvent:
    return events.new(
        Type.TICK, RolloutRef("default", "none"), data={"reason": "test"}, event_id=str(uuid4())
    )


def _post(url: str, event: events.CloudEvent, token: str | None) -> requests.Response:
    headers, body = events.to_http(event)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(url, data=body, headers=headers, timeout=10)


def _outsider_token(runtime: Runtime, audience: str) -> str:
    assert runtime.sim is not None
    core = client.CoreV1Api(runtime.sim.api_client())
    with contextlib.suppress(client.ApiException):
        core.create_namespaced_service_account("default", {"metadata": {"name": "mallory"}})
    return runtime.sim.service_account_token("default", "mallory", [audience])


def test_the_broker_accepts_only_ferrys_identities(runtime: Runtime) -> None:
    assert runtime.broker is not None
    url, audience = runtime.broker_url, runtime.audience()
    refused = [_tick() for _ in range(4)]
    missing = _post(url, refused[0], None)
    assert missing.status_code == 401 and "bearer token is required" in missing.text
    assert _post(url, refused[1], "forged").status_code == 401
    elsewhere = runtime.token(runtime.audience("reconcile"))
    assert _post(url, refused[2], elsewhere).status_code == 401  # not issued for the Broker
    outsider = _post(url, refused[3], _outsider_token(runtime, audience))
    assert outsider.status_code == 403 and "mallory may not send events here" in outsider.text
    accepted = _tick()
    assert _post(url, accepted, runtime.token(audience)).status_code == 202
    assert runtime.broker.wait_idle(5)
    routed = {d.event_id for d in runtime.broker.deliveries()}
    assert accepted.get_id() in routed
    assert not routed & {event.get_id() for event in refused}


def test_a_function_accepts_only_tokens_for_its_own_audience(runtime: Runtime) -> None:
    url = runtime.function_url("reconcile")
    assert _post(url, _tick(), None).status_code == 401
    assert _post(url, _tick(), runtime.token(runtime.audience("step"))).status_code == 401
    outsider = _outsider_token(runtime, runtime.audience("reconcile"))
    assert _post(url, _tick(), outsider).status_code == 403
    assert post_to(runtime, "reconcile", _tick()) in (200, 202)
