"""The Redis state store against a real Redis: compare-and-set, dedupe markers, history, index."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis

from shared.events import RolloutRef
from shared.state import AlreadyProcessed, Conflict, Keys, RolloutState, Stage, StateStore

REF = RolloutRef("demo", "podinfo")


def test_a_missing_rollout_has_an_empty_state(redis_client: redis.Redis) -> None:
    state = StateStore(redis_client).load(REF)
    assert not state.exists and state.version == 0


def test_commit_round_trips_every_field(redis_client: redis.Redis) -> None:
    store = StateStore(redis_client)
    old = store.load(REF)
    new = old.to(
        Stage.PAUSED,
        100.0,
        canary_revision="abc",
        step=2,
        weight=30,
        pause_until=160.5,
        attempt=3,
        paused_by="alice",
        scaled_down=True,
    )
    store.commit(old, new, event_key="e1", history={"note": "paused"})
    loaded = store.load(REF)
    assert loaded.version == 1
    assert loaded.with_(version=0) == new
    assert store.history(REF)[0]["note"] == "paused"
    assert list(store.rollouts()) == [REF]


def test_a_state_written_with_the_extra_map_still_loads(redis_client: redis.Redis) -> None:
    """Before ``paused_by`` and ``scaled_down`` were fields they lived in a JSON map."""
    redis_client.hset(
        f"ferry:{{{REF.namespace}/{REF.name}}}:state",
        mapping={
            "version": "4",
            "stage": "aborted",
            "extra": json.dumps({"paused_by": "bob", "scaled_down": "1"}),
        },
    )
    loaded = StateStore(redis_client).load(REF)
    assert (loaded.version, loaded.paused_by, loaded.scaled_down) == (4, "bob", True)


def test_a_stale_commit_changes_nothing(redis_client: redis.Redis) -> None:
    store = StateStore(redis_client)
    old = store.load(REF)
    store.commit(old, old.to(Stage.HEALTHY, 1.0), event_key="e1", history={"n": 1})
    with pytest.raises(Conflict):
        store.commit(old, old.to(Stage.ABORTED, 2.0), event_key="e2", history={"n": 2})
    assert store.load(REF).stage == Stage.HEALTHY
    assert not store.processed(REF, "e2")
    assert len(store.history(REF)) == 1


def test_an_event_commits_at_most_once(redis_client: redis.Redis) -> None:
    store = StateStore(redis_client)
    store.commit(
        store.load(REF), store.load(REF).to(Stage.HEALTHY, 1.0), event_key="e1", history={}
    )
    current = store.load(REF)
    with pytest.raises(AlreadyProcessed):
        store.commit(current, current.with_(step=5), event_key="e1", history={})
    assert store.load(REF).step == 0


def test_concurrent_commits_of_one_event_make_one_history_entry(
    redis_client: redis.Redis,
) -> None:
    store = StateStore(redis_client)
    base = store.load(REF)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def racer() -> None:
        barrier.wait()
        try:
            store.commit(base, base.to(Stage.SCALING, 1.0), event_key="same", history={"x": 1})
            outcomes.append("won")
        except (Conflict, AlreadyProcessed) as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1
    assert len(store.history(REF)) == 1


def test_deleting_the_state_keeps_the_history(redis_client: redis.Redis) -> None:
    store = StateStore(redis_client)
    store.commit(
        store.load(REF),
        store.load(REF).to(Stage.HEALTHY, 1.0),
        event_key="a",
        history={"n": "created"},
    )
    store.commit(store.load(REF), None, event_key="b", history={"n": "deleted"})
    assert not store.load(REF).exists
    assert [h["n"] for h in store.history(REF)] == ["created", "deleted"]
    assert list(store.rollouts()) == []


def test_keys_share_one_hash_tag_per_rollout() -> None:
    keys = [
        Keys.of(Keys.state, REF),
        Keys.of(Keys.history, REF),
        Keys.of(Keys.processed, REF, key="x"),
    ]
    assert all("{demo/podinfo}" in k for k in keys)


def test_state_field_types_survive(redis_client: redis.Redis) -> None:
    store = StateStore(redis_client)
    old = store.load(REF)
    store.commit(
        old,
        RolloutState("demo", "podinfo", stage=Stage.STEPPING, step=4),
        event_key="z",
        history=None,
    )
    loaded = store.load(REF)
    assert isinstance(loaded.step, int) and isinstance(loaded.pause_until, float)
    assert loaded.stage is Stage.STEPPING


def test_a_live_view_waits_longer_than_one_read_may(redis_client: redis.Redis) -> None:
    """The dashboard's live page waits for the next history entry for longer than redis-py
    reads (5 s) without failing, and sees an entry that comes late in the wait."""
    store = StateStore(redis_client)
    ref = RolloutRef("shop", "slow")
    head = store.history_head(ref)
    started = time.monotonic()
    assert store.history_after(ref, head, 5.5) == head
    assert time.monotonic() - started >= 5.4
    late = threading.Timer(
        5.2, lambda: redis_client.xadd(Keys.of(Keys.history, ref), {"entry": "{}"})
    )
    late.start()
    try:
        assert store.history_after(ref, head, 10.0) != head
    finally:
        late.cancel()
        late.join()  # its XADD may still be reading the reply: the client closes after the test


def test_notification_bookkeeping_is_written_only_under_its_lease(
    redis_client: redis.Redis,
) -> None:
    store = StateStore(redis_client)
    assert store.lease_notifications(REF, "a", 5)
    assert not store.lease_notifications(REF, "b", 5)  # one sender at a time
    assert store.note_notifications(REF, {"cursor:s": "1-0", "thread:s:r": "{}"}, holder="a")
    assert not store.note_notifications(REF, {"cursor:s": "0-0"}, holder="b")  # not b's lease
    assert store.note_notifications(REF, {"cursor:s": "2-0"}, ("thread:s:r",), holder="a")
    assert store.notifications(REF) == {"cursor:s": "2-0"}
    store.release_notifications(REF, "b")  # not b's to give back
    assert not store.lease_notifications(REF, "b", 5)
    store.release_notifications(REF, "a")
    assert store.lease_notifications(REF, "b", 5)


def test_a_delivery_is_remembered_once_and_can_be_forgotten(redis_client: redis.Redis) -> None:
    store = StateStore(redis_client)
    assert not store.delivered("github", "d-1")
    assert store.first_delivery("github", "d-1", 60)
    assert store.delivered("github", "d-1") and not store.first_delivery("github", "d-1", 60)
    store.forget_delivery("github", "d-1")
    assert store.first_delivery("github", "d-1", 60)


def test_gated_state_round_trips(redis_client: redis.Redis) -> None:
    store = StateStore(redis_client)
    old = store.load(REF)
    new = old.to(Stage.GATED, 5.0, gate="confirm-traffic-increase@2", gates_passed=("pre-rollout",))
    store.commit(old, new, event_key="g", history={"note": "gated"})
    assert store.load(REF).with_(version=0) == new
