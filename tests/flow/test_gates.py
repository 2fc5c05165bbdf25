"""Gates and hooks (Flagger's webhooks) end to end: real HTTP hooks answering as a test
decides, gates opened by their hooks or by `confirm`, a closed gate that does not burn the
progress deadline, pre-rollout and rollback hooks that abort, post-rollout hooks told the end."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest

from local.runtime import Runtime
from shared import events
from shared.events import Type
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import REF, Demo, eventually, let_analyses_read_secrets, post_to, settle
from tests.recorder import Recorder


@pytest.fixture
def hook() -> Iterator[Recorder]:
    found = Recorder()
    found.url += "/hook"
    yield found
    found.stop()


STEPS = [{"setWeight": 20}, {"pause": {"duration": "1s"}}, {"setWeight": 50}]


def replicas(kube: Kube) -> int:
    target = kube.deployment("default", "podinfo") or {}
    return int(target["spec"]["replicas"])


def opened(podinfo: Demo) -> list[str]:
    return [e["note"] for e in podinfo.history() if "opened by" in (e.get("note") or "")]


def test_a_promotion_gate_holds_until_its_hook_says_yes(podinfo: Demo, hook: Recorder) -> None:
    hook.status = 403
    podinfo.kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "approval", "namespace": "default"},
            "data": {"token": base64.b64encode(b"Bearer s3cr3t-approval").decode()},
        }
    )
    let_analyses_read_secrets(podinfo.kube)  # the namespace lets Ferry read its Secrets
    secret = {"secretKeyRef": {"name": "approval", "key": "token"}}
    webhooks = [
        {
            "name": "approve",
            "type": "confirm-promotion",
            "url": hook.url,
            "interval": "1s",
            "headers": [{"name": "Authorization", "valueFrom": secret}],
        },
        {"name": "tell", "type": "post-rollout", "url": hook.url, "metadata": {"team": "shop"}},
    ]
    podinfo.create(steps=STEPS, webhooks=webhooks)
    podinfo.wait(Stage.HEALTHY)
    revision = podinfo.set_image("podinfo:2")
    gated = podinfo.wait(Stage.GATED, timeout=30)
    assert gated.gate == "confirm-promotion" and gated.weight == 50
    obj = podinfo.kube.rollout("default", "podinfo") or {}
    eventually(
        lambda: (
            "answered 403"
            in ((podinfo.kube.rollout("default", "podinfo") or {}).get("status") or {}).get(
                "message", ""
            )
        ),
        what="the status says why",
    )
    assert obj["status"]["phase"] == "Paused"
    eventually(lambda: len(hook.payloads) >= 3, what="called again while closed")
    assert podinfo.state().stage == Stage.GATED
    assert hook.payloads[0] == {
        "name": "podinfo",
        "namespace": "default",
        "phase": "Paused",
        "checksum": revision,
        "type": "confirm-promotion",
        "metadata": {},
    }
    assert {h.get("Authorization") for h in hook.headers} == {"Bearer s3cr3t-approval"}
    stored = json.dumps(podinfo.kube.rollout("default", "podinfo")) + json.dumps(podinfo.history())
    assert "s3cr3t" not in stored
    hook.status = 200
    podinfo.wait(Stage.HEALTHY, stable_revision=revision, timeout=30)
    assert opened(podinfo) == [
        "gate confirm-promotion opened by its hooks (approve): all steps done; promoting"
    ]
    told = eventually(
        lambda: [p for p in hook.payloads if p["type"] == "post-rollout"], what="told"
    )
    assert told == [
        {
            "name": "podinfo",
            "namespace": "default",
            "phase": "Succeeded",
            "checksum": revision,
            "type": "post-rollout",
            "metadata": {"team": "shop"},
        }
    ]
    found = podinfo.kube.list_of("v1", "events", "default")
    assert [e["message"] for e in found if e["reason"] == "PostRolloutHook"] == [
        "post-rollout hook tell (promoted): answered 200"
    ]


def test_a_confirm_gate_holds_the_canary_unscaled_without_burning_its_deadline(
    runtime: Runtime, podinfo: Demo
) -> None:
    webhooks = [{"name": "go", "type": "confirm-rollout"}]
    podinfo.create(steps=STEPS, webhooks=webhooks, progressDeadlineSeconds=2)
    podinfo.wait(Stage.HEALTHY)
    revision = podinfo.set_image("podinfo:2")
    gated = podinfo.wait(Stage.GATED, timeout=30)
    assert gated.gate == "confirm-rollout" and gated.canary_revision == revision
    time.sleep(3)  # longer than progressDeadlineSeconds
    runtime.tick()
    settle(runtime)
    assert podinfo.state().stage == Stage.GATED and replicas(podinfo.kube) == 0
    # a gate.polled delivered twice (and by the tick) does not open a gate without a URL
    poll = events.new(
        Type.GATE_POLLED,
        REF,
        event_id="twice",
        revision=revision,
        attempt=gated.attempt,
        gate="confirm-rollout",
        rolloutuid=gated.uid,
    )
    assert post_to(runtime, "gate", poll) in (200, 202)
    assert post_to(runtime, "gate", poll) in (200, 202)
    assert podinfo.state().stage == Stage.GATED
    podinfo.command("confirm", user="alice")
    podinfo.wait(Stage.HEALTHY, stable_revision=revision, timeout=30)
    entries = [e for e in podinfo.history() if e.get("command")]
    assert [(e["user"], e["note"]) for e in entries] == [
        ("alice", f"gate confirm-rollout opened by alice; canary {revision}: scaling up")
    ]
    # confirm with no gate waiting is refused, and said so
    podinfo.command("confirm", user="alice")
    eventually(
        lambda: [e for e in podinfo.history() if "no gate to confirm" in e.get("note", "")],
        what="refused",
    )


def test_each_raise_of_the_weight_waits_for_its_own_confirmation(podinfo: Demo) -> None:
    webhooks = [{"name": "more", "type": "confirm-traffic-increase"}]
    podinfo.create(steps=STEPS, webhooks=webhooks)
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    first = podinfo.wait(Stage.GATED, timeout=30)
    assert first.gate == "confirm-traffic-increase@0" and first.weight == 0
    podinfo.command("confirm")
    second = podinfo.wait(Stage.GATED, gate="confirm-traffic-increase@2", timeout=30)
    assert second.weight == 20 and podinfo.weight() == 20
    podinfo.command("confirm")
    podinfo.wait(Stage.HEALTHY, timeout=30)


def test_failing_pre_rollout_hooks_and_a_rollback_hook_abort(podinfo: Demo, hook: Recorder) -> None:
    hook.status = 500
    webhooks = [
        {
            "name": "smoke",
            "type": "pre-rollout",
            "url": hook.url,
            "interval": "1s",
            "failureLimit": 2,
        },
        {"name": "stop", "type": "rollback", "url": hook.url + "/rollback", "interval": "1s"},
        {"name": "tell", "type": "post-rollout", "url": hook.url + "/told"},
    ]
    podinfo.create(steps=[*STEPS, {"pause": {}}], webhooks=webhooks)
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    aborted = podinfo.wait(Stage.ABORTED, timeout=30)
    assert aborted.reason == "PreRolloutFailed"
    assert "pre-rollout hooks failed 2 times: smoke answered 500" in aborted.message
    assert podinfo.weight() == 0
    told = eventually(
        lambda: [p for p in hook.payloads if p["type"] == "post-rollout"], what="told"
    )
    assert told[0]["phase"] == "Failed"

    # the pre-rollout hook passes now; the rollback hook answers 2xx mid-rollout
    hook.status = 200
    podinfo.set_image("podinfo:3")
    rolled = podinfo.wait(Stage.ABORTED, reason="RolledBackByHook", timeout=30)
    assert "rollback hook stop answered 200" in rolled.message
