"""Appending a person's command to a Rollout's ``status.commands``, through the API server.

The one way a person acts on a rollout (``shared.commands`` says how Ferry answers): an entry
``{id, action, full?, user, time}`` is added to the status through the status subresource with
a merge patch carrying the resourceVersion read, re-read and tried again on a conflict for up
to :data:`PATIENCE` seconds (Ferry mirrors every transition into the status, so conflicts are
common), keeping the last :data:`MAX_COMMANDS`. It must be written with the person's own
identity (their credentials, or an impersonating client): the API server authenticates them,
RBAC decides, and an admission policy makes ``user`` the authenticated name. Used by
``kubectl ferry`` and the dashboard; never writes the spec, never touches Redis.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from shared import models
from shared.clock import rfc3339
from shared.events import Type
from shared.kube import Kube, NotFound, Transient

Obj = dict[str, Any]

ACTIONS = {
    "promote": Type.PROMOTION_REQUESTED,
    "abort": Type.ABORT_REQUESTED,
    "retry": Type.RETRY_REQUESTED,
    "pause": Type.PAUSE_REQUESTED,
    "resume": Type.RESUME_REQUESTED,
    "confirm": Type.GATE_CONFIRMED,
    "restart": Type.RESTART_REQUESTED,
}
"""What a person may ask of a rollout, and the event that announces it to Ferry
(``shared.commands``, which answers it, reads this table)."""
MAX_COMMANDS = 20
"""Entries kept in status.commands (the oldest is dropped when one is appended)."""
PATIENCE = 30.0
"""Seconds an append keeps retrying conflicts: a Rollout whose status is written often must not
make a person's command fail after a few tries."""


def new_command(action: str, user: str, *, full: bool = False, now: float | None = None) -> Obj:
    """A ``status.commands`` entry (``full`` only for promote)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
    entry: Obj = {"id": str(uuid.uuid4()), "action": action}
    if action == "promote":
        entry["full"] = full
    entry["user"] = user
    entry["time"] = rfc3339(time.time() if now is None else now)
    return entry


def append(
    kube: Kube,
    namespace: str,
    name: str,
    entry: Obj,
    *,
    gave_up: Callable[[Transient], bool] = lambda exc: False,
) -> Obj:
    """Append ``entry`` to the Rollout's status.commands; the Rollout as written. NotFound
    when the Rollout is gone; ApiError (e.g. 403) as the API server answers; Transient when
    conflicts last longer than :data:`PATIENCE` or ``gave_up`` says a failure is final."""
    deadline = time.monotonic() + PATIENCE
    attempt = 0
    while True:
        attempt += 1
        current = kube.rollout(namespace, name)
        if current is None:
            raise NotFound(f"{namespace}/{name}")
        status = current.get("status") or {}
        kept = [c for c in status.get("commands") or [] if isinstance(c, dict)]
        commands = [*kept[max(0, len(kept) - (MAX_COMMANDS - 1)) :], entry]
        patch = {
            "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
            "status": {"commands": commands},
        }
        try:
            written: Obj = kube.merge_patch(
                models.API_VERSION, models.PLURAL, namespace, name, patch, sub="status"
            )
            return written
        except Transient as exc:
            if gave_up(exc) or time.monotonic() >= deadline:
                raise
        # changed meanwhile (409), or a passing server error: re-read and try again, after a
        # jittered pause that grows (so concurrent appenders spread out) up to half a second
        time.sleep(random.uniform(0.5, 1.0) * min(0.5, 0.01 * 2 ** min(attempt, 6)))
