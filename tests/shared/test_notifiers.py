"""The notifiers against real HTTP servers: the local Slack Web API (answering as Slack does)
and a recording endpoint for the webhook and Teams."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.slack_api import SlackApi
from shared import notifiers
from shared.notifiers import Notice, RateLimited, Rejected, Unavailable
from tests.recorder import Recorder

TOKEN = "xoxb-test-1234567890"


def notice(**changes: Any) -> Notice:
    base: dict[str, Any] = {
        "namespace": "default",
        "name": "podinfo",
        "uid": "u-1",
        "revision": "abc123",
        "triggers": ("on-rollout-updated",),
        "headline": "Revision abc123 is rolling out",
        "detail": "",
        "phase": "Progressing",
        "step": "0/4",
        "weight": 0,
        "analysis": "",
        "stable": "def456",
        "at": 1_764_633_600.0,
        "actions": ("promote", "abort"),
    }
    return Notice(**{**base, **changes})


@pytest.fixture
def slack() -> Iterator[SlackApi]:
    api = SlackApi({TOKEN}, {"releases": "C0RELEASES"})
    yield api
    api.stop()


def slack_notifier(api: SlackApi, **config: Any) -> notifiers.Notifier:
    return notifiers.REGISTRY.create("slack", {"token": TOKEN, "apiURL": api.url, **config})


def test_one_message_per_revision_updated_in_place_with_a_thread(slack: SlackApi) -> None:
    notifier = slack_notifier(slack, buttons=True)
    kept = notifier.send(notice(), "releases", {})
    assert kept["channel"] == "C0RELEASES" and kept["ts"]
    step = notice(
        triggers=("on-rollout-step-completed",),
        headline="Step 1 of 4 completed: canary at 20%",
        step="1/4",
        weight=20,
    )
    again = notifier.send(step, "releases", kept)
    assert again == kept
    assert len(slack.parents()) == 1
    assert [c.args["text"] for c in slack.replies(kept["ts"])] == [
        "Step 1 of 4 completed: canary at 20%"
    ]
    updated = slack.messages[("C0RELEASES", kept["ts"])]
    text = json.dumps(updated["blocks"])
    assert "20%" in text and "1/4" in text
    actions = next(b for b in updated["blocks"] if b["type"] == "actions")["elements"]
    assert [a["action_id"] for a in actions] == ["ferry.promote", "ferry.abort"]
    assert json.loads(actions[1]["value"]) == {
        "rollout": "default/podinfo",
        "uid": "u-1",
        "revision": "abc123",
    }
    assert "confirm" in actions[1]


def test_a_failure_mentions_and_is_broadcast_from_the_thread(slack: SlackApi) -> None:
    notifier = slack_notifier(slack)
    kept = notifier.send(notice(), "releases", {})
    failed = notice(
        triggers=("on-analysis-run-failed", "on-rollout-aborted"),
        headline="Aborted: analysis ok Failed: metric ok measured 0",
        failed=True,
        mentions=("<!subteam^S0ONCALL>",),
        phase="Degraded",
    )
    notifier.send(failed, "releases", kept)
    reply = slack.replies(kept["ts"])[-1]
    assert reply.args["reply_broadcast"] is True
    assert reply.args["text"].startswith("<!subteam^S0ONCALL> Aborted: analysis ok Failed")
    first = slack_notifier(slack).send(failed, "releases", {})  # a failure as first message
    assert slack.messages[("C0RELEASES", first["ts"])]["text"].startswith("<!subteam^S0ONCALL>")


def test_a_deleted_message_is_posted_again(slack: SlackApi) -> None:
    notifier = slack_notifier(slack)
    kept = notifier.send(notice(), "releases", {})
    del slack.messages[("C0RELEASES", kept["ts"])]
    again = notifier.send(notice(headline="Step 1 of 4 completed"), "releases", kept)
    assert again["ts"] != kept["ts"] and len(slack.parents()) == 2


def test_slack_failures_are_sorted_and_never_show_the_token(slack: SlackApi) -> None:
    notifier = slack_notifier(slack)
    slack.rate_limit_next, slack.retry_after = 1, 7
    with pytest.raises(RateLimited) as limited:
        notifier.send(notice(), "releases", {})
    assert limited.value.after == 7
    kept = notifier.send(notice(), "releases", {})
    slack.rate_limit_next = 1
    with pytest.raises(RateLimited) as limited:  # the update passes, the reply is limited
        notifier.send(notice(headline="Step 1 of 4 completed"), "releases", kept)
    assert len(slack.parents()) == 1
    slack.down = True
    with pytest.raises(Unavailable) as down:
        notifier.send(notice(), "releases", {})
    slack.down = False
    with pytest.raises(Rejected) as unknown:
        notifier.send(notice(), "nowhere", {})
    assert "channel_not_found" in str(unknown.value)
    with pytest.raises(Rejected) as bad:
        notifiers.REGISTRY.create("slack", {"token": "xoxb-wrong", "apiURL": slack.url}).send(
            notice(), "releases", {}
        )
    assert "invalid_auth" in str(bad.value)
    for error in (limited.value, down.value, unknown.value, bad.value):
        assert TOKEN not in str(error) and "xoxb" not in str(error)
    unreachable = notifiers.REGISTRY.create(
        "slack", {"token": TOKEN, "apiURL": "http://127.0.0.1:9/api/"}
    )
    with pytest.raises(Unavailable):
        unreachable.send(notice(), "releases", {})


@pytest.fixture
def endpoint() -> Iterator[Recorder]:
    found = Recorder()
    yield found
    found.stop()


def test_the_webhook_posts_flaggers_shape_signed(endpoint: Recorder) -> None:
    notifier = notifiers.REGISTRY.create(
        "webhook",
        {
            "url": endpoint.url + "/hook",
            "headers": [{"name": "Authorization", "value": "Bearer hook-token"}],
            "secret": "sign-me",
        },
    )
    assert notifier.send(notice(failed=True), "ci", {}) == {}
    path, headers, body = endpoint.posts[0]
    assert path == "/hook" and headers["Authorization"] == "Bearer hook-token"
    expected = hmac.new(b"sign-me", body, hashlib.sha256).hexdigest()
    assert headers["X-Ferry-Signature-256"] == f"sha256={expected}"
    sent = json.loads(body)
    assert sent["name"] == "podinfo" and sent["namespace"] == "default"
    assert sent["metadata"]["eventType"] == "Warning"
    assert sent["metadata"]["trigger"] == "on-rollout-updated"
    assert all(isinstance(v, str) for v in sent["metadata"].values())
    endpoint.status = 429
    with pytest.raises(RateLimited) as limited:
        notifier.send(notice(), "ci", {})
    assert limited.value.after == 3
    endpoint.status = 502
    with pytest.raises(Unavailable):
        notifier.send(notice(), "ci", {})
    endpoint.status = 404
    with pytest.raises(Rejected) as refused:
        notifier.send(notice(), "ci", {})
    assert endpoint.url not in str(refused.value) and "hook-token" not in str(refused.value)


def test_teams_posts_an_adaptive_card_to_the_recipients_url(endpoint: Recorder) -> None:
    secret_url = endpoint.url + "/webhookb2/key-0123"
    notifier = notifiers.REGISTRY.create("teams", {"recipientUrls": {"releases": secret_url}})
    notifier.send(notice(link="http://dash/rollouts/default/podinfo"), "releases", {})
    path, _, body = endpoint.posts[0]
    assert path == "/webhookb2/key-0123"
    sent = json.loads(body)
    attachment = sent["attachments"][0]
    assert sent["type"] == "message"
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["type"] == "AdaptiveCard"
    assert attachment["content"]["actions"][0]["url"] == "http://dash/rollouts/default/podinfo"
    with pytest.raises(Rejected):
        notifier.send(notice(), "elsewhere", {})
    endpoint.status = 500
    with pytest.raises(Unavailable) as down:
        notifier.send(notice(), "releases", {})
    assert "key-0123" not in str(down.value)


def test_the_registry_refuses_an_unknown_service() -> None:
    with pytest.raises(ValueError, match="unknown notification service 'pagerduty'"):
        notifiers.REGISTRY.check("pagerduty")
