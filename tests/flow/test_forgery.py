"""Commands act only through the API server: forged, unlisted and replayed ones do nothing.

Covered on the full local runtime: a promotion event posted straight to the Broker (and to the
function) naming a command that is not in the Rollout's ``status.commands`` promotes nothing
and leaves no history; one about a Rollout that does not exist leaves nothing in Redis; a
command listed with a time older than ``MAX_AGE`` is never carried out; a command carried out
is pruned from ``status.commands`` (the history keeps who asked) and sending its event again
changes nothing, not even once Redis lost everything it knew.
"""

from __future__ import annotations

import time

from local.runtime import Runtime
from shared import commands, events
from shared.events import RolloutRef, Type
from shared.state import Stage
from tests.flow.conftest import REF, Demo, post_to, publish, settle

STEPS = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 40}]


def test_a_forged_promotion_promotes_nothing(podinfo: Demo, runtime: Runtime) -> None:
    podinfo.create(steps=STEPS)
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    paused = podinfo.wait(Stage.PAUSED, step=1)
    history = podinfo.history()
    forged = commands.Command("c-forged", "promote", "alice", time.time(), full=True).event(REF)
    publish(runtime, forged)
    assert post_to(runtime, "advance", forged) == 202
    settle(runtime)
    assert podinfo.state() == paused
    assert podinfo.history() == history


def test_a_command_for_a_rollout_that_does_not_exist_leaves_nothing(runtime: Runtime) -> None:
    assert runtime.store is not None
    ghost = RolloutRef("default", "ghost")
    event = commands.Command("c-1", "abort", "mallory", time.time()).event(ghost)
    assert post_to(runtime, "abort", event) == 202
    assert [k for k in runtime.store.redis.scan_iter(match="*ghost*")] == []


def test_a_stale_command_is_not_carried_out(podinfo: Demo, runtime: Runtime) -> None:
    podinfo.create(steps=STEPS)
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    paused = podinfo.wait(Stage.PAUSED, step=1)
    old = time.time() - commands.MAX_AGE - 60
    stale = podinfo.command("promote", when=old)
    assert post_to(runtime, "advance", stale) == 202
    settle(runtime)
    assert podinfo.state() == paused


def test_a_command_carried_out_is_pruned_and_its_replay_does_nothing(
    podinfo: Demo, runtime: Runtime
) -> None:
    podinfo.create(steps=STEPS)
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    promote = podinfo.command("promote")
    done = podinfo.wait(Stage.HEALTHY)
    command_id = events.ext(promote, events.Ext.COMMAND)
    status = (podinfo.kube.rollout(REF.namespace, REF.name) or {})["status"]
    assert all(c["id"] != command_id for c in status.get("commands") or [])
    assert any(h.get("command") == command_id for h in status["history"])
    history = podinfo.history()
    publish(runtime, promote)
    assert post_to(runtime, "advance", promote) == 202
    settle(runtime)
    assert podinfo.state() == done and podinfo.history() == history
    assert promote.get_type() == Type.PROMOTION_REQUESTED


def test_losing_redis_does_not_bring_a_command_back(podinfo: Demo, runtime: Runtime) -> None:
    """Everything Redis knew is gone; the Rollout's status no longer lists the command (it was
    pruned once carried out), so Ferry starts over without carrying it out again."""
    assert runtime.store is not None
    podinfo.create(steps=STEPS)
    podinfo.wait(Stage.HEALTHY)
    podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, step=1)
    promote = podinfo.command("promote")
    podinfo.wait(Stage.HEALTHY)
    settle(runtime)
    runtime.store.redis.flushall()
    runtime.tick()
    podinfo.wait(Stage.HEALTHY)
    command_id = events.ext(promote, events.Ext.COMMAND)
    assert all(entry.get("command") != command_id for entry in podinfo.history())
