"""Slack's promote and abort buttons, end to end: a click on a button of the message Ferry
posted, signed as Slack signs it, becomes the mapped person's command through the API server;
forged, stale, replayed, oversized and malformed requests change nothing, and a person without
the right, a Slack user nobody mapped, or a button of an older rollout are refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from local import demo
from local.runtime import NAMESPACE, Runtime
from local.slack_api import SlackApi
from shared import subscriptions
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import (
    Demo,
    configure_notifications,
    eventually,
    fast_options,
)

RBAC = "/apis/rbac.authorization.k8s.io/v1"


@pytest.fixture
def slack() -> Iterator[SlackApi]:
    api = SlackApi({"xoxb-ferry-0123456789-notifications"}, {"releases": "C0RELEASES"})
    yield api
    api.stop()


@pytest.fixture
def runtime(slack: SlackApi) -> Iterator[Runtime]:
    base = slack.url.replace("/api/", "/actions/")
    with Runtime(fast_options(slack_response_urls=base)) as started:
        yield started


def sign(runtime: Runtime, body: bytes, stamp: int | None = None) -> dict[str, str]:
    when = str(int(time.time()) if stamp is None else stamp)
    base = b"v0:" + when.encode() + b":" + body
    digest = hmac.new(runtime.slack_signing_secret, base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": when,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def click(slack: SlackApi, user: str, action: str, value: str) -> bytes:
    payload = {
        "type": "block_actions",
        "trigger_id": uuid.uuid4().hex,  # every click has its own
        "user": {"id": user, "username": user.lower(), "team_id": "T0FERRY"},
        "team": {"id": "T0FERRY"},
        "actions": [{"action_id": f"ferry.{action}", "value": value, "type": "button"}],
        "response_url": slack.response_url,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def post(runtime: Runtime, body: bytes, headers: dict[str, str]) -> int:
    url = f"{runtime.webhooks_url}/slack/actions"
    return requests.post(url, data=body, headers=headers, timeout=10).status_code


def setup(kube: Kube, slack: SlackApi) -> None:
    """alice operates rollouts in the demo namespace (group ops), eve may do nothing; both
    are mapped, as the Ferry administrator maps Slack users."""
    kube.request(
        "POST",
        f"{RBAC}/namespaces/{demo.NAMESPACE}/rolebindings",
        body={
            "metadata": {"name": "ops"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "ferry-rollout-operator",
            },
            "subjects": [{"kind": "Group", "name": "ops", "apiGroup": "rbac.authorization.k8s.io"}],
        },
    )
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "ferry-slack-users", "namespace": NAMESPACE},
            "data": {"U0ALICE": "{user: alice, groups: [ops]}", "U0EVE": "eve"},
        }
    )
    configure_notifications(kube, slack)
    kube.create(demo.deployment("podinfo:1"))
    kube.create(demo.ingress())
    obj = demo.rollout([{"setWeight": 20}, {"pause": {}}])
    obj["metadata"]["annotations"] = {
        f"{subscriptions.SUBSCRIBE}on-rollout-paused.slack": "releases",
        f"{subscriptions.SUBSCRIBE}on-rollout-completed.slack": "releases",
    }
    kube.create(obj)


def button(slack: SlackApi, revision: str, action: str) -> str:
    """The value of ``action``'s button in the message Ferry posted about ``revision``."""

    def found() -> str | None:
        for (_, _), message in list(slack.messages.items()):
            for block in message.get("blocks") or []:
                if block["type"] != "actions":
                    continue
                for element in block["elements"]:
                    value = json.loads(element["value"])
                    if element["action_id"] == f"ferry.{action}" and value["revision"] == revision:
                        return str(element["value"])
        return None

    value: str = eventually(found, 20, f"the {action} button of {revision}")
    return value


def commands(kube: Kube) -> list[dict[str, Any]]:
    obj = kube.rollout(demo.NAMESPACE, demo.NAME) or {}
    return list((obj.get("status") or {}).get("commands") or [])


def test_a_click_is_the_mapped_persons_command_and_nothing_else_gets_through(
    runtime: Runtime, kube: Kube, podinfo: Demo, slack: SlackApi
) -> None:
    setup(kube, slack)
    podinfo.wait(Stage.HEALTHY)
    first = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1, timeout=30)
    promote = button(slack, first, "promote")

    # what never reaches a person's check: forged, stale, oversized, malformed
    body = click(slack, "U0ALICE", "promote", promote)
    forged = {**sign(runtime, body), "X-Slack-Signature": "v0=" + "0" * 64}
    assert post(runtime, body, forged) == 401
    assert post(runtime, body, sign(runtime, body, int(time.time()) - 301)) == 401
    assert post(runtime, body, {"Content-Type": "application/x-www-form-urlencoded"}) == 401
    big = body + b"&pad=" + b"x" * 70_000
    assert post(runtime, big, sign(runtime, big)) == 413
    odd = urlencode({"payload": "[1, 2]"}).encode()
    assert post(runtime, odd, sign(runtime, odd)) == 400
    unknown = click(slack, "U0ALICE", "delete", promote)
    assert post(runtime, unknown, sign(runtime, unknown)) == 400
    assert commands(kube) == [] and slack.responses == []

    # people: nobody, eve (no right), and a button of another revision
    for user, action, value, said in (
        ("U0NOBODY", "promote", promote, "is not mapped to a Kubernetes identity"),
        ("U0EVE", "abort", button(slack, first, "abort"), "does not let eve abort"),
        (
            "U0ALICE",
            "promote",
            promote.replace(first, "0000000000"),
            "is no longer rolling out revision 0000000000",
        ),
    ):
        refused = click(slack, user, action, value)
        assert post(runtime, refused, sign(runtime, refused)) == 200
        assert said in slack.responses[-1]["text"], slack.responses[-1]
        assert slack.responses[-1]["response_type"] == "ephemeral"
    assert commands(kube) == []
    assert podinfo.state().stage == Stage.PAUSED

    # alice promotes; the very same request again is a replay
    headers = sign(runtime, body)
    assert post(runtime, body, headers) == 200
    assert slack.responses[-1]["text"] == "Promote of default/podinfo asked by alice."
    assert post(runtime, body, headers) == 409
    podinfo.wait(Stage.HEALTHY, stable_revision=first, timeout=30)
    history = [e for e in podinfo.history() if e.get("command")]
    assert [(e["user"], e["event"]) for e in history] == [
        ("alice", "dev.ferry.promotion.requested")
    ]

    # the promote button of the finished rollout does nothing now
    again = click(slack, "U0ALICE", "promote", promote)
    assert post(runtime, again, sign(runtime, again)) == 200
    assert "no longer rolling out" in slack.responses[-1]["text"]
    assert commands(kube) == []
    assert len([e for e in podinfo.history() if e.get("command")]) == 1


def test_without_a_signing_secret_there_are_no_buttons_to_press(runtime: Runtime) -> None:
    from shared.state import StateStore
    from webhooks.app import create_app

    assert runtime.store is not None and runtime.sim is not None
    app = create_app(Kube(runtime.sim.api_client()), StateStore(runtime.store.redis), b"")
    answer = app.test_client().post("/slack/actions", data=b"payload={}")
    assert answer.status_code == 404
