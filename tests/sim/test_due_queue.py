"""The controllers' shared work queue: earliest time wins, due keys in queue order, keys left
queued when the caller stops early."""

from __future__ import annotations

from local.sim.controllers.base import DueQueue


def test_a_key_is_queued_once_at_the_earliest_time() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.enqueue("a", at=10.0)
    queue.enqueue("a", at=20.0)
    assert list(queue.pop_due(9.0)) == []
    assert list(queue.pop_due(10.0)) == ["a"]
    assert list(queue.pop_due(100.0)) == []
    queue.enqueue("b", at=20.0)
    queue.enqueue("b", at=5.0)
    assert list(queue.pop_due(5.0)) == ["b"]


def test_due_keys_come_in_queue_order_and_discard_drops_one() -> None:
    queue: DueQueue[str] = DueQueue()
    for key in ("c", "a", "b", "d"):
        queue.enqueue(key)
    queue.discard("b")
    assert list(queue.pop_due(0.0)) == ["c", "a", "d"]


def test_keys_not_handed_out_stay_queued() -> None:
    queue: DueQueue[str] = DueQueue()
    for key in ("x", "y", "z"):
        queue.enqueue(key)
    due = queue.pop_due(0.0)
    assert next(due) == "x"
    del due  # the caller stopped (a sync raised)
    assert list(queue.pop_due(0.0)) == ["y", "z"]
