"""People's commands as the Rollout lists them (``shared.commands``), without I/O.

Covered: only well-formed entries of ``status.commands`` are commands (an id, a known action,
a user, an RFC 3339 time: a time such as ``soon`` or a number is not one, never an error); a
command is carried out only within ``MAX_AGE`` of its time and not from the future beyond
``SKEW``; ``find`` answers only for the action the announcing event names; ``pending`` prunes
the consumed and the malformed entries and says when there is nothing to prune; the event that
announces a command carries its id and nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared import commands, events
from shared.events import Ext, RolloutRef, Type

REF = RolloutRef("demo", "podinfo")
NOW = 1_800_000_000.0


def _at(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(id_: str = "c-1", *, when: Any = None, **fields: Any) -> dict[str, Any]:
    entry = {
        "id": id_,
        "action": "abort",
        "user": "alice",
        "time": _at(NOW) if when is None else when,
    }
    return {**entry, **fields}


def _rollout(*entries: Any) -> dict[str, Any]:
    return {"status": {"commands": list(entries)}}


@pytest.mark.parametrize(
    "entry",
    [
        _entry(when="soon"),
        _entry(when=NOW),
        _entry(action="rollback"),
        _entry(user=""),
        _entry(id_=7),  # type: ignore[arg-type]
        "abort",
    ],
    ids=["time-soon", "time-number", "action", "no-user", "id", "not-a-map"],
)
def test_a_malformed_entry_is_not_a_command(entry: Any) -> None:
    assert commands.listed(_rollout(entry), NOW) == []


def test_a_command_acts_only_within_its_window() -> None:
    fresh = _entry("fresh", when=_at(NOW - commands.MAX_AGE + 5))
    stale = _entry("stale", when=_at(NOW - commands.MAX_AGE - 5))
    ahead = _entry("ahead", when=_at(NOW + commands.SKEW - 5))
    future = _entry("future", when=_at(NOW + commands.SKEW + 5))
    found = commands.listed(_rollout(stale, future, ahead, fresh), NOW)
    assert [c.id for c in found] == ["fresh", "ahead"]


def test_find_answers_only_for_the_announced_action() -> None:
    rollout = _rollout(_entry("c-1"))
    assert commands.find(rollout, "c-1", Type.ABORT_REQUESTED, NOW) is not None
    assert commands.find(rollout, "c-1", Type.PROMOTION_REQUESTED, NOW) is None
    assert commands.find(rollout, "c-2", Type.ABORT_REQUESTED, NOW) is None
    assert commands.find(None, "c-1", Type.ABORT_REQUESTED, NOW) is None


def test_pending_prunes_the_consumed_the_expired_and_the_malformed() -> None:
    expired = _entry("old", when=_at(NOW - commands.MAX_AGE - 5))
    later = _entry("later", when=_at(NOW + 3600))  # not yet current: kept
    rollout = _rollout(_entry("done"), _entry("todo"), expired, later, "junk")
    kept = commands.pending(rollout, lambda c: c.id == "done", NOW)
    assert kept == [_entry("todo"), later]
    assert commands.pending(_rollout(_entry("todo")), lambda c: False, NOW) is None


def test_the_announcing_event_carries_the_id_and_nothing_else() -> None:
    (command,) = commands.listed(_rollout(_entry("c-9", full=True, action="promote")), NOW)
    event = command.event(REF)
    assert event.get_type() == Type.PROMOTION_REQUESTED
    assert events.ext(event, Ext.COMMAND) == "c-9"
    assert events.data(event) == {}
