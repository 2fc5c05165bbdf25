"""Each webhook receiver: what a genuine delivery asks, and that forged, replayed (outside the
window), malformed or oversized deliveries are refused with the status they get."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import receivers
from shared.receivers import Incoming, Intent, Refused

SECRET = b"It's a Secret to Everybody"
NOW = 1_796_000_000.0


def receiver(name: str) -> receivers.Receiver:
    return receivers.REGISTRY.create(name, SECRET)


def github(event: str, payload: dict[str, Any], *, secret: bytes = SECRET) -> Incoming:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return Incoming(
        {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "X-Hub-Signature-256": signature,
        },
        body,
    )


PACKAGE = {
    "action": "published",
    "package": {
        "name": "podinfo",
        "package_type": "container",
        "owner": {"login": "Ferry-Dev"},
        "package_version": {"container_metadata": {"tag": {"name": "6.5.1", "digest": "sha256:1"}}},
    },
    "repository": {"full_name": "ferry-dev/podinfo"},
}


def test_github_verifies_the_signature_and_reads_package_and_dispatch_events() -> None:
    delivery = receiver("github").verify(github("package", PACKAGE), NOW)
    again = github("package", PACKAGE)  # the same body under another delivery id: one delivery
    again = Incoming({**again.headers, "X-GitHub-Delivery": "another"}, again.body)
    assert receiver("github").verify(again, NOW).id == delivery.id
    assert delivery.intents == (
        Intent("release", tag="6.5.1", repository="ghcr.io/ferry-dev/podinfo"),
    )
    dispatch = {
        "action": "ferry.promote",
        "client_payload": {"rollout": "podinfo"},
        "repository": {"full_name": "ferry-dev/podinfo"},
    }
    (intent,) = receiver("github").verify(github("repository_dispatch", dispatch), NOW).intents
    assert intent == Intent("promote", rollout="podinfo", repository="ferry-dev/podinfo")
    assert receiver("github").verify(github("ping", {"zen": "hi"}), NOW).intents == ()
    with pytest.raises(Refused) as forged:
        receiver("github").verify(github("package", PACKAGE, secret=b"guess"), NOW)
    assert forged.value.status == 401
    unsigned = github("package", PACKAGE)
    with pytest.raises(Refused) as missing:
        receiver("github").verify(Incoming({"X-GitHub-Delivery": "x"}, unsigned.body), NOW)
    assert missing.value.status == 401


def test_gitlab_checks_its_token_and_reads_tag_pushes() -> None:
    body = json.dumps(
        {
            "object_kind": "tag_push",
            "ref": "refs/tags/v1.4.0",
            "after": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
            "project": {"path_with_namespace": "shop/podinfo"},
        }
    ).encode()
    headers = {"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Event-UUID": "u-1"}
    delivery = receiver("gitlab").verify(
        Incoming({**headers, "X-Gitlab-Token": SECRET.decode()}, body), NOW
    )
    assert delivery.intents == (
        Intent("release", tag="v1.4.0", repository="shop/podinfo", ref="v1.4.0"),
    )
    with pytest.raises(Refused) as wrong:
        receiver("gitlab").verify(Incoming({**headers, "X-Gitlab-Token": "nope"}, body), NOW)
    assert wrong.value.status == 401


def test_docker_hub_needs_the_url_token_and_a_recent_push() -> None:
    def push(at: float) -> bytes:
        data = {
            "push_data": {"tag": "2.0.1", "pushed_at": int(at), "pusher": "ci"},
            "repository": {"repo_name": "ferrydev/podinfo"},
            "callback_url": "https://registry.hub.docker.com/u/ferrydev/podinfo/hook/1/",
        }
        return json.dumps(data).encode()

    delivery = receiver("dockerhub").verify(Incoming({}, push(NOW), SECRET.decode()), NOW)
    assert delivery.intents == (Intent("release", tag="2.0.1", repository="ferrydev/podinfo"),)
    for incoming, status in (
        (Incoming({}, push(NOW), "wrong"), 401),
        (Incoming({}, push(NOW), ""), 401),
        (Incoming({}, push(NOW - 7200), SECRET.decode()), 409),
        (Incoming({}, b"[]", SECRET.decode()), 400),
    ):
        with pytest.raises(Refused) as refused:
            receiver("dockerhub").verify(incoming, NOW)
        assert refused.value.status == status


def test_harbor_checks_its_auth_header_and_reads_pushed_tags() -> None:
    body = json.dumps(
        {
            "type": "PUSH_ARTIFACT",
            "occur_at": int(NOW),
            "operator": "admin",
            "event_data": {
                "resources": [
                    {"digest": "sha256:9", "tag": "1.2.3", "resource_url": "h/l/p:1.2.3"}
                ],
                "repository": {
                    "name": "podinfo",
                    "namespace": "library",
                    "repo_full_name": "library/podinfo",
                },
            },
        }
    ).encode()
    auth = {"Authorization": SECRET.decode()}
    delivery = receiver("harbor").verify(Incoming(auth, body), NOW)
    assert delivery.intents == (Intent("release", tag="1.2.3", repository="library/podinfo"),)
    with pytest.raises(Refused) as stale:
        receiver("harbor").verify(Incoming(auth, body), NOW + 4000)
    assert stale.value.status == 409


def hmac_delivery(body: dict[str, Any], at: float, *, secret: bytes = SECRET) -> Incoming:
    raw = json.dumps(body).encode()
    stamp = str(int(at))
    signature = hmac.new(secret, stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return Incoming(
        {
            "X-Ferry-Timestamp": stamp,
            "X-Ferry-Signature-256": f"sha256={signature}",
            "X-Ferry-Delivery": "d-1",
        },
        raw,
    )


def test_the_generic_hmac_webhook_signs_its_timestamp() -> None:
    asked = {"action": "abort", "rollout": "podinfo"}
    delivery = receiver("hmac").verify(hmac_delivery(asked, NOW), NOW)
    assert delivery.intents == (Intent("abort", rollout="podinfo"),)
    signed_again = hmac_delivery(asked, NOW)
    renamed = Incoming({**signed_again.headers, "X-Ferry-Delivery": "d-2"}, signed_again.body)
    assert receiver("hmac").verify(renamed, NOW).id == delivery.id  # a replay, renamed
    old = hmac_delivery(asked, NOW - 600)
    with pytest.raises(Refused) as stale:
        receiver("hmac").verify(old, NOW)
    assert stale.value.status == 409
    moved = Incoming({**old.headers, "X-Ferry-Timestamp": str(int(NOW))}, old.body)
    with pytest.raises(Refused) as forged:  # a fresh timestamp on an old signature
        receiver("hmac").verify(moved, NOW)
    assert forged.value.status == 401
    with pytest.raises(Refused) as odd:
        receiver("hmac").verify(hmac_delivery({"action": "delete"}, NOW), NOW)
    assert odd.value.status == 400


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(["github", "gitlab", "dockerhub", "harbor", "hmac", "slack"]),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "X-Hub-Signature-256",
                "X-GitHub-Delivery",
                "X-GitHub-Event",
                "X-Gitlab-Token",
                "X-Ferry-Timestamp",
                "X-Ferry-Signature-256",
                "Authorization",
                "X-Slack-Signature",
                "X-Slack-Request-Timestamp",
            ]
        ),
        st.text(max_size=80),
    ),
    body=st.binary(max_size=300),
    token=st.text(max_size=40),
)
def test_anything_unsigned_is_refused_never_raises_otherwise(
    name: str, headers: dict[str, str], body: bytes, token: str
) -> None:
    with pytest.raises(Refused) as refused:
        receiver(name).verify(Incoming(headers, body, token), time.time())
    assert refused.value.status in (400, 401, 409)


def test_odd_headers_and_fields_are_refused_not_crashed_on() -> None:
    body = b'{"ref": "refs/tags/v1", "after": null, "project": {}}'
    headers = {"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Event-UUID": "u"}
    delivery = receiver("gitlab").verify(
        Incoming({**headers, "X-Gitlab-Token": SECRET.decode()}, body), NOW
    )
    assert delivery.intents == ()  # a deleted tag (or none): nothing to release
    with pytest.raises(Refused) as slack:
        stamp = str(int(NOW))
        receiver("slack").verify(
            Incoming({"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=é"}, b"x"), NOW
        )
    assert slack.value.status == 401
