"""Notifications on transitions, end to end: a rollout's Slack message (one per revision,
updated in place, a thread of transitions), sent once per transition however the hints arrive,
through rate limits and outages that never hold the rollout up, and dead letters for what a
service refuses. Slack is the local Web API of ``local.slack_api``; the rest is the runtime."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from functions import notify
from local import demo
from local.runtime import Runtime
from local.slack_api import SlackApi
from shared import events, models, subscriptions
from shared.events import Type
from shared.kube import Kube
from shared.state import Keys, Stage
from tests.flow.conftest import (
    ONCALL,
    REF,
    Check,
    Demo,
    eventually,
    post_to,
    settle,
)
from tests.flow.conftest import (
    SLACK_TOKEN as TOKEN,
)
from tests.flow.conftest import (
    configure_notifications as configure,
)

TRIGGERS = (
    "on-rollout-updated",
    "on-rollout-step-completed",
    "on-rollout-completed",
    "on-rollout-aborted",
    "on-analysis-run-failed",
)


def subscribe(channel: str = "releases") -> dict[str, str]:
    return {f"{subscriptions.SUBSCRIBE}{t}.slack": channel for t in TRIGGERS}


def create(
    kube: Kube,
    annotations: dict[str, str],
    steps: list[dict[str, Any]] | None = None,
) -> None:
    kube.create(demo.deployment("podinfo:1"))
    kube.create(demo.ingress())
    obj = demo.rollout(steps)
    obj["metadata"]["annotations"] = annotations
    kube.create(obj)


def due(podinfo: Demo, revision: str) -> list[dict[str, Any]]:
    """The history entries of ``revision`` that fired a subscribed trigger."""
    return [
        e
        for e in podinfo.history()
        if set(e.get("triggers") or ()) & set(TRIGGERS) and e.get("release") == revision
    ]


def delivered(slack: SlackApi, revision: str, count: int) -> list[Any]:
    """Wait until the revision's message and its replies number ``count`` transitions."""

    def done() -> list[Any] | None:
        parents = [p for p in slack.parents() if revision in p.args.get("text", "")]
        if len(parents) != 1:
            return None
        replies = slack.replies(parents[0].answer["ts"])
        return [parents[0], *replies] if 1 + len(replies) >= count else None

    found: list[Any] = eventually(done, 20, f"{count} notifications of {revision}")
    return found


def test_a_rollout_has_one_slack_message_updated_in_place_with_its_transitions(
    runtime: Runtime, kube: Kube, podinfo: Demo, slack: SlackApi
) -> None:
    configure(kube, slack)
    create(kube, subscribe())
    podinfo.wait(Stage.HEALTHY)
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.HEALTHY, stable_revision=revision, timeout=30)
    wanted = due(podinfo, revision)
    assert [e["triggers"][0] for e in wanted] == [
        "on-rollout-updated",
        "on-rollout-step-completed",
        "on-rollout-step-completed",
        "on-rollout-step-completed",
        "on-rollout-step-completed",
        "on-rollout-completed",
    ]
    parent, *replies = delivered(slack, revision, len(wanted))
    settle(runtime)
    assert parent.args["channel"] == "releases"
    assert [r.args["text"] for r in replies] == [
        "Step 1 of 4 completed: canary at 20%",
        "Step 2 of 4 completed: canary at 20%",
        "Step 3 of 4 completed: canary at 50%",
        "Step 4 of 4 completed: canary at 50%",
        f"Revision {revision} is stable and serves all traffic",
    ]
    assert len(slack.ok_calls("chat.update")) == len(wanted) - 1
    final = slack.messages[("C0RELEASES", parent.answer["ts"])]
    text = json.dumps(final["blocks"])
    assert "Healthy" in text and "is stable" in text
    assert f"{runtime.dashboard_url}/rollouts/{demo.NAMESPACE}/{demo.NAME}" in text
    assert not [b for b in final["blocks"] if b["type"] == "actions"]  # nothing left to do
    assert all(c.token == TOKEN for c in slack.calls)

    # hints again, twice at once, and the tick: nothing is sent twice
    calls = len(slack.calls)
    hint = events.new(Type.MILESTONE_REACHED, REF, event_id="again")
    threads = [threading.Thread(target=post_to, args=(runtime, "notify", hint)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runtime.tick()
    settle(runtime)
    assert len(slack.calls) == calls


def test_concurrent_and_lost_hints_send_each_transition_once(
    runtime: Runtime, kube: Kube, podinfo: Demo, slack: SlackApi
) -> None:
    """Subscriptions added after a rollout finished: the transitions of the last minutes are
    sent once, whether four hints race or none comes and the tick finds them."""
    create(kube, {})
    podinfo.wait(Stage.HEALTHY)
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.HEALTHY, stable_revision=revision, timeout=30)
    settle(runtime)
    assert slack.calls == []
    configure(kube, slack)
    kube.merge_patch(
        models.API_VERSION,
        models.PLURAL,
        demo.NAMESPACE,
        demo.NAME,
        {"metadata": {"annotations": subscribe()}},
    )
    statuses: list[int] = []
    hint = events.new(Type.MILESTONE_REACHED, REF, event_id="racing")

    def deliver() -> None:
        statuses.append(post_to(runtime, "notify", hint))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 200 in statuses or 204 in statuses or 202 in statuses, statuses
    assert set(statuses) <= {200, 202, 204, 503}, statuses  # 503: another held the lease
    wanted = due(podinfo, revision)
    delivered(slack, revision, len(wanted))
    assert len(slack.parents()) == 1 and len(slack.ok_calls()) == 1 + 2 * (len(wanted) - 1)

    # a crash just after the commit that completes the next rollout: its redelivery does not
    # wake the notifier again, the tick does
    runtime.faults.arm("finalize", when="after")
    second = podinfo.set_image("podinfo:3")
    podinfo.wait(Stage.HEALTHY, stable_revision=second, timeout=30)
    settle(runtime)
    assert runtime.faults.left("finalize", when="after") == 0
    wanted = due(podinfo, second)
    parent = eventually(
        lambda: [p for p in slack.parents() if second in p.args.get("text", "")], what="sent"
    )[0]
    time.sleep(0.5)
    assert len(slack.replies(parent.answer["ts"])) == len(wanted) - 2  # not the completion
    runtime.tick()
    delivered(slack, second, len(wanted))
    settle(runtime)
    assert len(slack.replies(parent.answer["ts"])) == len(wanted) - 1


def test_rate_limits_and_outages_never_hold_the_rollout_up(
    runtime: Runtime,
    kube: Kube,
    podinfo: Demo,
    slack: SlackApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notify, "BACKOFF", (0.5, 1.0))
    monkeypatch.setattr(notify, "ATTEMPTS", 100)
    configure(kube, slack)
    create(kube, subscribe())
    podinfo.wait(Stage.HEALTHY)
    slack.rate_limit_next, slack.retry_after = 2, 1
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.HEALTHY, stable_revision=revision, timeout=30)
    wanted = due(podinfo, revision)
    _parent, *replies = delivered(slack, revision, len(wanted))
    limited = [c for c in slack.calls if c.status == 429]
    assert len(limited) == 2
    after = min(c.at for c in slack.ok_calls())
    assert after - limited[0].at >= 0.9  # Retry-After: 1 was honoured
    assert len(replies) == len(wanted) - 1  # nothing sent twice, nothing lost

    # Slack down for the whole of a rollout: it completes on time, the messages follow
    slack.down = True
    second = podinfo.set_image("podinfo:3")
    podinfo.wait(Stage.HEALTHY, stable_revision=second, timeout=30)
    assert not [c for c in slack.ok_calls() if second in c.args.get("text", "")]
    slack.down = False
    wanted = due(podinfo, second)
    delivered(slack, second, len(wanted))
    assert [c for c in slack.calls if c.status == 503]


def test_a_notification_given_up_is_a_dead_letter_and_a_warning(
    runtime: Runtime,
    kube: Kube,
    podinfo: Demo,
    slack: SlackApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notify, "BACKOFF", (0.2,) * 8)
    monkeypatch.setattr(notify, "ATTEMPTS", 3)
    configure(kube, slack)
    create(
        kube, {**subscribe(), f"{subscriptions.SUBSCRIBE}on-rollout-updated.slack": "releases;gone"}
    )
    podinfo.wait(Stage.HEALTHY)
    slack.down = True
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.HEALTHY, stable_revision=revision, timeout=30)

    def warnings() -> list[dict[str, Any]]:
        found = kube.list_of("v1", "events", demo.NAMESPACE)
        return [e for e in found if e["reason"] == "NotificationFailed"]

    eventually(lambda: len(warnings()) >= 2, 20, "the outage given up on")
    messages = [w["message"] for w in warnings()]
    assert any("slack:releases" in m and "3 attempts" in m for m in messages)
    letters = runtime.store.redis.xrange(Keys.deadletters)  # type: ignore[union-attr]
    records = [json.loads(fields[b"event"]) for _, fields in letters]
    assert {r["subscription"] for r in records} >= {"slack:releases"}
    assert all(r["type"] == "notification" and r["rollout"] == REF.subject for r in records)

    # Slack is back: the next rollout's notifications go; an unknown channel is refused at once
    slack.down = False
    second = podinfo.set_image("podinfo:3")
    podinfo.wait(Stage.HEALTHY, stable_revision=second, timeout=30)
    delivered(slack, second, len(due(podinfo, second)))
    eventually(
        lambda: any(
            "slack:gone" in w["message"] and "channel_not_found" in w["message"] for w in warnings()
        ),
        what="the unknown channel refused",
    )


def test_an_abort_names_the_metric_mentions_and_keeps_the_token_secret(
    runtime: Runtime, kube: Kube, podinfo: Demo, slack: SlackApi, check: Check
) -> None:
    check.ok = False
    kube.create(
        {
            "apiVersion": models.API_VERSION,
            "kind": "AnalysisTemplate",
            "metadata": {"name": "ok", "namespace": demo.NAMESPACE},
            "spec": {
                "metrics": [
                    {
                        "name": "ok",
                        "interval": "500ms",
                        "count": 1,
                        "successCondition": "result == 1",
                        "provider": {"web": {"url": check.url, "jsonPath": "{$.ok}"}},
                    }
                ]
            },
        }
    )
    configure(kube, slack)
    steps = [{"setWeight": 20}, {"analysis": {"templates": [{"templateName": "ok"}]}}]
    create(kube, subscribe(), steps)
    podinfo.wait(Stage.HEALTHY)
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.ABORTED, timeout=30)
    parent, *replies = delivered(slack, revision, 3)
    abort = replies[-1].args
    assert abort["reply_broadcast"] is True
    assert abort["text"].startswith(f"{ONCALL} Aborted: aborted: analysis ")
    assert "metric ok measured 0" in abort["text"]
    final = json.dumps(slack.messages[("C0RELEASES", parent.answer["ts"])]["blocks"])
    assert "Degraded" in final and "metric ok measured 0" in final
    time.sleep(0.3)
    settle(runtime)
    redis = runtime.store.redis  # type: ignore[union-attr]
    for key in redis.scan_iter("*"):
        kind = redis.type(key)
        if kind == b"hash":
            dumped = str(redis.hgetall(key))
        elif kind == b"stream":
            dumped = str(redis.xrange(key))
        elif kind == b"string":
            dumped = str(redis.get(key))
        else:
            continue
        assert TOKEN not in dumped, key
    for event in kube.list_of("v1", "events", demo.NAMESPACE):
        assert TOKEN not in json.dumps(event)


def test_a_namespace_that_did_not_let_ferry_read_its_secret_is_told_how(
    runtime: Runtime, kube: Kube, podinfo: Demo, slack: SlackApi
) -> None:
    configure(kube, slack, bind=False)
    create(kube, subscribe())
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")

    def warning() -> list[str]:
        found = kube.list_of("v1", "events", demo.NAMESPACE)
        return [e["message"] for e in found if e["reason"] == "NotificationConfigInvalid"]

    (message,) = eventually(warning, 20, "the configuration refused")
    assert "kubectl create rolebinding ferry-notify-secrets" in message
    podinfo.wait(Stage.HEALTHY, timeout=30)  # the rollout itself is not held up
    settle(runtime)
    assert slack.calls == []
