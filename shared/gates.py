"""Gates and hooks (Flagger's webhooks): where a rollout waits for a URL, a person or a webhook
to say yes, and the hooks that can stop it or are told how it ended.

A *gate* stands before a move (``shared.moves``): ``confirm-rollout`` before the canary is
scaled up, ``pre-rollout`` before the first step sends it traffic, ``confirm-traffic-increase``
before each ``setWeight`` that raises the weight, ``confirm-promotion`` before promotion. A
rollout whose spec has hooks of that type waits there (stage ``gated``) until every hook with a
URL answers 2xx (called every ``interval``), or a person's (or a webhook's) ``confirm`` command
opens it; a gate of hooks without a URL waits for the command. Each gate opens once per
attempt. A closed gate does not burn the progress deadline (it only runs while the canary
scales up, and no gate stands there). ``pre-rollout`` hooks that fail ``failureLimit`` times
abort the rollout, as does a ``rollback`` hook answering 2xx (checked every ``interval`` while
the canary is in progress); ``post-rollout`` hooks are told once the rollout is promoted or
aborted. Calls POST Flagger's payload (``name``, ``namespace``, ``phase``, ``checksum``: the
canary revision, ``type``, ``metadata``) with the hook's headers (values from Secrets of the
namespace, never logged or stored, and never sent on to where a redirect points) and its
timeout; the hooks of one gate are called at once.

Decisions here are pure but for :func:`call`, which does the HTTP.
"""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
from cloudevents.core.v1.event import CloudEvent

from shared import events, kube
from shared.events import RolloutRef, Type
from shared.kube import Kube
from shared.models import Hook, RolloutSpec
from shared.state import RolloutState, Stage

log = logging.getLogger(__name__)

CONFIRM_ROLLOUT = "confirm-rollout"
PRE_ROLLOUT = "pre-rollout"
CONFIRM_TRAFFIC = "confirm-traffic-increase"
CONFIRM_PROMOTION = "confirm-promotion"
ROLLBACK = "rollback"
POST_ROLLOUT = "post-rollout"


def unstarted(state: RolloutState) -> bool:
    """Whether the attempt waits before its canary starts (at ``confirm-rollout``)."""
    return state.stage == Stage.GATED and state.gate == CONFIRM_ROLLOUT


def point(key: str) -> str:
    """The hook type of gate ``key`` (``confirm-traffic-increase@3`` -> its type)."""
    return key.partition("@")[0]


def traffic_key(step: int) -> str:
    return f"{CONFIRM_TRAFFIC}@{step}"


def hold(state: RolloutState, spec: RolloutSpec, key: str, now: float) -> RolloutState | None:
    """``state`` held at gate ``key`` (None: no closed gate there, the move goes on)."""
    hooks = spec.hooks_of(point(key))
    if not hooks or key in state.gates_passed:
        return None
    return state.to(
        Stage.GATED,
        now,
        gate=key,
        gate_failures=0,
        reason="GateClosed",
        message=waiting(key, hooks),
    )


def waiting(key: str, hooks: tuple[Hook, ...], why: str = "") -> str:
    names = ", ".join(h.name for h in hooks)
    manual = not any(h.url for h in hooks)
    text = f"waiting at gate {key} ({names})"
    if manual:
        text += ": kubectl ferry confirm opens it"
    if why:
        text += f": {why}"
    return text


def passed(state: RolloutState, by: str) -> RolloutState:
    """``state`` with its gate opened (the move it held back is made next)."""
    return state.with_(
        gates_passed=(*state.gates_passed, state.gate),
        gate="",
        gate_failures=0,
        message=f"gate {state.gate} opened by {by}",
    )


def poll(state: RolloutState, spec: RolloutSpec, key: str, at: float) -> CloudEvent:
    """The event that calls gate ``key``'s hooks at epoch second ``at``. Its id names the
    ``interval`` slot ``at`` falls in, so the tick's re-sent poll, a timer and a redelivery in
    the same slot are one event, and each slot schedules one next: polls never multiply."""
    every = interval(spec.hooks_of(point(key)))
    slot = math.floor(at / every)
    return events.new(
        Type.GATE_POLLED,
        state.ref,
        event_id=events.derived_id(f"{state.uid}/{state.attempt}/{key}", str(slot)),
        revision=state.canary_revision,
        attempt=state.attempt,
        gate=key,
        rolloutuid=state.uid,
    )


def interval(hooks: tuple[Hook, ...]) -> float:
    return min((h.interval for h in hooks), default=10.0)


def next_poll(
    state: RolloutState, spec: RolloutSpec, key: str, now: float
) -> tuple[float, CloudEvent]:
    """When gate ``key``'s hooks are called next (the start of the next slot) and its event."""
    every = interval(spec.hooks_of(point(key)))
    at = (math.floor(now / every) + 1) * every
    return at, poll(state, spec, key, at)


@dataclass(frozen=True)
class Answer:
    hook: str
    ok: bool
    why: str


def call(api: Kube, spec: RolloutSpec, state: RolloutState, hook: Hook, phase: str) -> Answer:
    """POST Flagger's payload to ``hook``; 2xx is yes. Never raises, never logs a header."""
    payload = {
        "name": spec.name,
        "namespace": spec.namespace,
        "phase": phase,
        "checksum": state.canary_revision,
        "type": hook.type,
        "metadata": dict(hook.metadata),
    }
    try:
        headers = _headers(api, spec.namespace, hook)
    except _NoSecret as exc:
        return Answer(hook.name, False, str(exc))
    try:
        answer = requests.post(
            hook.url, json=payload, headers=headers, timeout=hook.timeout, allow_redirects=False
        )
    except requests.Timeout:
        return Answer(hook.name, False, f"no answer within {hook.timeout:g}s")
    except requests.RequestException as exc:
        return Answer(hook.name, False, f"unreachable ({type(exc).__name__})")
    if 200 <= answer.status_code < 300:
        return Answer(hook.name, True, f"answered {answer.status_code}")
    return Answer(hook.name, False, f"answered {answer.status_code}")


def call_all(
    api: Kube, spec: RolloutSpec, state: RolloutState, hooks: tuple[Hook, ...], phase: str
) -> list[Answer]:
    """Call ``hooks`` at once (so a request lasts as long as the slowest, at most 25 s)."""
    if len(hooks) <= 1:
        return [call(api, spec, state, hook, phase) for hook in hooks]
    with ThreadPoolExecutor(max_workers=min(len(hooks), 8)) as pool:
        return list(pool.map(lambda hook: call(api, spec, state, hook, phase), hooks))


class _NoSecret(Exception):
    pass


def _headers(api: Kube, namespace: str, hook: Hook) -> dict[str, str]:
    found: dict[str, str] = {}
    for header in hook.headers:
        if not header.secret:
            found[header.name] = header.value
            continue
        try:
            secret = api.get("v1", "secrets", namespace, header.secret)
        except (kube.ApiError, kube.Transient):
            secret = None
        value = ((secret or {}).get("data") or {}).get(header.key)
        if value is None:
            raise _NoSecret(
                f"header {header.name}: Secret {header.secret} (key {header.key}) is missing or "
                "Ferry may not read it (bind ferry-analysis-secret-reader in the namespace)"
            )
        found[header.name] = base64.b64decode(value).decode(errors="replace")
    return found


def failed(ref: RolloutRef, state: RolloutState, reason: str, message: str) -> CloudEvent:
    """The event that aborts the rollout for a hook's sake."""
    return events.new(
        Type.GATE_FAILED,
        ref,
        data={"reason": reason, "message": message},
        revision=state.canary_revision,
        attempt=state.attempt,
        rolloutuid=state.uid,
    )


Caller = Callable[[Hook], Answer]
