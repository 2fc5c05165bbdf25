"""notify: sends a rollout's notifications (Slack, Teams, webhooks) for the transitions its
history says fired the triggers a subscription asked for.

``milestone.reached`` is only a hint (the transition that committed, a retry timer or the tick
sends it): what is due is read from the rollout's history, from each subscription's cursor on,
so a hint delivered twice, late, or for an entry already sent sends nothing more. One sender at
a time per rollout (a lease; a concurrent delivery answers 503 and the Broker tries it again),
and each subscription's cursor moves past an entry once its notifier accepted it: a
notification is sent once per transition. (A crash between the service's answer and the
cursor's write sends that one again: a service cannot be asked and told in one step.)

A notification never holds up a rollout: this runs after the transition committed and its
traffic moved, and a failure here stays here. A rate limit waits the Retry-After the service
gave; an outage is tried again with backoff (a timer); after :data:`ATTEMPTS` failures, or for a
service that refuses for good (a bad token, an unknown channel), the notification goes to the
dead letters with a ``NotificationFailed`` Warning on the Rollout, and the next ones go on. A
subscription seen for the first time starts with the transitions of the last
:data:`FIRST_LOOK` seconds (not the whole history).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from shared import events, kube, notices, notifiers, subscriptions
from shared.context import Context
from shared.events import RolloutRef, Type
from shared.notifiers import RateLimited, Rejected, Unavailable
from shared.state import Conflict, RolloutState

log = logging.getLogger(__name__)

LEASE = 25.0
"""Seconds one delivery may hold the rollout's notifications (under the 30 s request limit)."""
ATTEMPTS = 8
"""Failed attempts after which a notification is given up (about 20 minutes of backoff)."""
BACKOFF = (2.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""Seconds before the next attempt after the 1st, 2nd, ... failure."""
FIRST_LOOK = 600.0
"""A new subscription is told about the transitions of the last ten minutes at most."""
THREADS_KEPT = 5
"""Revisions whose message is remembered per subscription (older ones are not updated)."""
PAGE = 100


PASS_SECONDS = 12.0
"""Seconds one delivery sends for; what is left is the next one's (a hint a second away).
With Slack's calls bounded too, a delivery ends well within its lease and its 30 s."""


@dataclass(frozen=True)
class _Writer:
    """The bookkeeping of one delivery's pass, written only while it holds the lease (a pass
    whose lease expired stops: another one took over, and its cursors are newer)."""

    ctx: Context
    ref: RolloutRef
    holder: str
    deadline: float

    def note(self, values: dict[str, str], drop: tuple[str, ...] = ()) -> None:
        if not self.ctx.store.note_notifications(self.ref, values, drop, holder=self.holder):
            raise Conflict(f"{self.ref.subject}: the notification lease expired mid-pass")

    @property
    def late(self) -> bool:
        return time.monotonic() > self.deadline


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    ref = RolloutRef.parse(event.get_subject())
    holder = uuid.uuid4().hex
    if not ctx.store.lease_notifications(ref, holder, LEASE):
        raise Conflict(f"{ref.subject}: notifications are being sent by another delivery")
    try:
        _deliver(ctx, ref, _Writer(ctx, ref, holder, time.monotonic() + PASS_SECONDS))
    finally:
        ctx.store.release_notifications(ref, holder)
    return None


def _deliver(ctx: Context, ref: RolloutRef, w: _Writer) -> None:
    state = ctx.store.load(ref)
    head = ctx.store.history_head(ref)
    obj = ctx.kube.rollout(ref.namespace, ref.name) if state.exists else None
    if obj is None or obj["metadata"].get("uid") != state.uid:
        ctx.store.forget_notifications(ref)  # the rollout is gone: so is what it was told
        return
    setup = _setup(ctx, ref, obj)
    book = ctx.store.notifications(ref)
    _report_problems(ctx, obj, setup, book, w)
    for sub in setup.subscriptions:
        if not _catch_up(ctx, state, obj, setup, sub, book, w):
            _remind(ctx, ref, "pass", ctx.now() + 1.0)  # out of time: the rest is next
            return
    w.note({"seen": head})


def _setup(ctx: Context, ref: RolloutRef, obj: Mapping[str, Any]) -> subscriptions.Setup:
    try:
        config = ctx.kube.get("v1", "configmaps", ref.namespace, subscriptions.CONFIG_MAP)
    except kube.ApiError as exc:
        log.warning("%s: cannot read %s: %s", ref.subject, subscriptions.CONFIG_MAP, exc)
        config = None

    def secret() -> Mapping[str, str] | None:
        try:
            found = ctx.kube.get("v1", "secrets", ref.namespace, subscriptions.SECRET)
        except kube.ApiError:
            return None
        if found is None:
            return None
        return {
            k: base64.b64decode(v).decode(errors="replace")
            for k, v in (found.get("data") or {}).items()
        }

    return subscriptions.read((config or {}).get("data"), secret, obj)


def _report_problems(
    ctx: Context,
    obj: Mapping[str, Any],
    setup: subscriptions.Setup,
    book: Mapping[str, str],
    w: _Writer,
) -> None:
    """A Warning on the Rollout when what is wrong with its notifications changes."""
    said = "; ".join(setup.problems)
    if said == book.get("problems", ""):
        return
    w.note({"problems": said})
    if said:
        ctx.kube.record_event(dict(obj), "NotificationConfigInvalid", said, warning=True)


def _catch_up(
    ctx: Context,
    state: RolloutState,
    obj: Mapping[str, Any],
    setup: subscriptions.Setup,
    sub: subscriptions.Subscription,
    book: Mapping[str, str],
    w: _Writer,
) -> bool:
    """Send ``sub`` what the history holds for it after its cursor, until done or a failure
    says to wait (a timer then wakes this again); False when the pass ran out of time."""
    ref, key, now = state.ref, sub.key, ctx.now()
    until = float(book.get(f"until:{key}", 0) or 0)
    if until > now:  # waiting for a rate limit or a backoff: its timer comes (set it again:
        _remind(ctx, ref, key, until)  # the same timer, in case it was lost)
        return True
    service = setup.services[sub.service]
    notifier: notifiers.Notifier = notifiers.REGISTRY.create(service.type, service.config)
    cursor = book.get(f"cursor:{key}") or f"{math.floor((now - FIRST_LOOK) * 1000)}-0"
    attempts = int(book.get(f"attempts:{key}", 0) or 0)
    while True:
        page = ctx.store.history_since(ref, cursor, PAGE)
        if not page:
            break
        for entry_id, entry in page:
            if w.late:
                w.note({f"cursor:{key}": cursor})
                return False
            due = set(entry.get("triggers") or ()) & sub.triggers
            if not due or entry.get("uid", state.uid) != state.uid:
                cursor = entry_id
                continue
            notice = notices.of(
                entry, state, obj, mentions=service.mentions, dashboard=ctx.dashboard_url
            )
            thread_key = f"thread:{key}:{notice.revision}"
            thread = json.loads(book.get(thread_key) or "{}")
            try:
                kept = notifier.send(notice, sub.recipient, thread)
            except RateLimited as exc:
                _wait(ctx, w, key, cursor, attempts, exc.after, thread_key, exc.keep)
                return True
            except Unavailable as exc:
                attempts += 1
                if attempts < ATTEMPTS:
                    delay = BACKOFF[min(attempts - 1, len(BACKOFF) - 1)]
                    log.warning(
                        "%s: %s: %s (try %d in %gs)", ref.subject, key, exc, attempts + 1, delay
                    )
                    _wait(ctx, w, key, cursor, attempts, delay, thread_key, exc.keep)
                    return True
                _give_up(ctx, obj, sub, entry_id, entry, f"{exc} ({attempts} attempts)")
                kept = thread
            except Rejected as exc:
                _give_up(ctx, obj, sub, entry_id, entry, str(exc))
                kept = thread
            cursor, attempts = entry_id, 0
            values = {f"cursor:{key}": cursor, f"attempts:{key}": "0", f"until:{key}": "0"}
            if kept:
                values[thread_key] = json.dumps(kept, sort_keys=True)
            w.note(values, _stale_threads(book, key, thread_key))
            book = {**book, **values}
    w.note({f"cursor:{key}": cursor})
    return True


def _wait(
    ctx: Context,
    w: _Writer,
    key: str,
    cursor: str,
    attempts: int,
    delay: float,
    thread_key: str,
    keep: Mapping[str, str],
) -> None:
    """Try ``key`` again in ``delay`` seconds: its state noted, a timer set."""
    until = ctx.now() + delay
    values = {
        f"cursor:{key}": cursor,
        f"attempts:{key}": str(attempts),
        f"until:{key}": f"{until:.3f}",
    }
    if keep:
        values[thread_key] = json.dumps(dict(keep), sort_keys=True)
    w.note(values)
    _remind(ctx, w.ref, key, until)


def _remind(ctx: Context, ref: RolloutRef, key: str, until: float) -> None:
    """A timer that wakes the notifier at ``until`` (not before: timers keep whole seconds)."""
    hint = events.new(
        Type.MILESTONE_REACHED,
        ref,
        event_id=events.derived_id(f"retry/{key}/{until:.3f}", ref.subject),
    )
    ctx.timers.schedule(math.ceil(until), hint)


def _give_up(
    ctx: Context,
    obj: Mapping[str, Any],
    sub: subscriptions.Subscription,
    entry_id: str,
    entry: Mapping[str, Any],
    why: str,
) -> None:
    """The notification of ``entry`` to ``sub`` is not sent: a dead letter and a Warning."""
    meta = obj["metadata"]
    subject = f"{meta['namespace']}/{meta['name']}"
    record = {
        "type": "notification",
        "rollout": subject,
        "subscription": sub.key,
        "entry": entry_id,
        "triggers": list(entry.get("triggers") or ()),
    }
    log.warning("%s: notification to %s not sent: %s", subject, sub.key, why)
    ctx.store.record_dead_letter(json.dumps(record, sort_keys=True), why)
    message = f"notification to {sub.key} of {', '.join(record['triggers'])} not sent: {why}"
    ctx.kube.record_event(dict(obj), "NotificationFailed", message, warning=True)


def _stale_threads(book: Mapping[str, str], key: str, current: str) -> tuple[str, ...]:
    """Message records of ``key`` beyond the :data:`THREADS_KEPT` newest (by first use)."""
    threads = sorted(
        (k for k in book if k.startswith(f"thread:{key}:") and k != current),
        key=lambda k: json.loads(book[k] or "{}").get("ts", ""),
    )
    return tuple(threads[: max(len(threads) - (THREADS_KEPT - 1), 0)])
