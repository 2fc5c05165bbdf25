"""Gates as the spec says them and as the state holds them (pure parts of shared.gates)."""

from __future__ import annotations

from typing import Any

import pytest

from local import demo
from shared import gates, milestones, models
from shared.state import RolloutState, Stage


def spec(webhooks: list[dict[str, Any]]) -> models.RolloutSpec:
    obj = demo.rollout()
    obj["spec"]["webhooks"] = webhooks
    return models.parse(obj)


def test_flaggers_fields_and_ferrys_defaults() -> None:
    parsed = spec(
        [
            {"name": "go", "type": "confirm-rollout"},
            {
                "name": "smoke",
                "type": "pre-rollout",
                "url": "http://tester/",
                "timeout": "20s",
                "metadata": {"cmd": "hey"},
                "headers": [
                    {"name": "X-A", "value": "1"},
                    {"name": "X-B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                ],
            },
        ]
    )
    go, smoke = parsed.hooks
    assert (go.url, go.timeout, go.interval, go.failure_limit) == ("", 10.0, 10.0, 2)
    assert smoke.timeout == 20.0 and smoke.metadata == (("cmd", "hey"),)
    assert smoke.headers == (
        models.HookHeader("X-A", value="1"),
        models.HookHeader("X-B", secret="s", key="k"),
    )


@pytest.mark.parametrize(
    ("hook", "said"),
    [
        ({"name": "a", "type": "rollout", "url": "http://x/"}, "a Job metric"),
        ({"name": "a", "type": "event", "url": "http://x/"}, "notifications"),
        ({"name": "a", "type": "later"}, "must be one of"),
        ({"name": "a", "type": "post-rollout"}, "url is required"),
        ({"name": "a", "type": "rollback", "url": "ftp://x"}, "http(s) URL"),
        ({"name": "a", "type": "pre-rollout", "url": "http://x/", "timeout": "1m"}, "at most 25s"),
        ({"name": "a", "type": "pre-rollout", "url": "http://x/", "failureLimit": 0}, "positive"),
        ({"name": "a", "type": "confirm-rollout", "interval": "soon"}, "invalid duration"),
    ],
)
def test_what_ferry_cannot_run_is_an_invalid_spec(hook: dict[str, Any], said: str) -> None:
    with pytest.raises(models.InvalidSpec, match=said.replace("(", r"\(").replace(")", r"\)")):
        spec([hook])


def test_a_gate_holds_once_per_attempt_and_is_a_pause() -> None:
    parsed = spec([{"name": "more", "type": "confirm-traffic-increase"}])
    state = RolloutState("default", "podinfo", version=3, stage=Stage.STEPPING, attempt=2)
    held = gates.hold(state, parsed, gates.traffic_key(2), 100.0)
    assert (
        held is not None and held.stage == Stage.GATED and held.gate == "confirm-traffic-increase@2"
    )
    assert "kubectl ferry confirm opens it" in held.message
    assert milestones.milestone(state, held) == "RolloutPaused"
    opened = gates.passed(held, "alice").with_(stage=Stage.STEPPING)
    assert milestones.milestone(held, opened) == "RolloutResumed"
    assert gates.hold(opened, parsed, gates.traffic_key(2), 101.0) is None  # passed already
    assert gates.hold(opened, parsed, gates.traffic_key(3), 101.0) is not None  # the next raise
    assert gates.hold(state, parsed, "confirm-promotion", 100.0) is None  # no such gate
