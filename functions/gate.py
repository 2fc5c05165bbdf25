"""gate: opens the gate a rollout waits at, checks its rollback hooks, and tells its
post-rollout hooks how it ended (Flagger's webhooks; see ``shared.gates``).

``gate.polled`` for the gate waited at calls its hooks: all answering 2xx opens it, and the move
it held back is made (``shared.moves``: the canary scaled up, the first step, a weight raised,
the promotion); otherwise the next call is a timer ``interval`` away (a pre-rollout hook that
failed ``failureLimit`` times aborts instead: ``gate.failed``). ``gate.polled`` for
``rollback`` calls the rollback hooks while the canary is in progress: one answering 2xx aborts
the rollout. ``gate.confirmed`` (a person's or a webhook's ``confirm`` command) opens the gate
waited at, whatever its hooks say. ``rollout.promoted`` and ``rollout.aborted`` are told to the
post-rollout hooks, once each (their answer is a Normal or Warning Event, nothing more). Who
or what opened a gate is in the history entry of the transition.
"""

from __future__ import annotations

import logging

from cloudevents.core.v1.event import CloudEvent

from shared import events, gates, models, moves, transitions
from shared.commands import Command
from shared.context import Context
from shared.events import Ext, RolloutRef, Type
from shared.models import Hook
from shared.outcomes import Expect, Outcome, Turn
from shared.state import ACTIVE, PROCESSED_TTL, RolloutState, Stage

log = logging.getLogger(__name__)

WAITING = Expect(stages=frozenset({Stage.GATED}), attempt=True, unpaused=True)
CHECKING = Expect(stages=ACTIVE, attempt=True)
CONFIRM = Expect(stages=frozenset({Stage.GATED}), refusal="no gate to confirm", unpaused=True)


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    kind = event.get_type()
    if kind == Type.GATE_CONFIRMED:
        return transitions.run_command(ctx, event, _confirmed, CONFIRM)
    if kind in (Type.ROLLOUT_PROMOTED, Type.ROLLOUT_ABORTED):
        _post_rollout(ctx, event)
        return None
    key = events.ext(event, Ext.GATE)
    if not key:
        raise events.MalformedEvent("gate.polled needs the gate extension")
    if key == gates.ROLLBACK:
        return transitions.run(ctx, event, _rollback, CHECKING)
    return transitions.run(ctx, event, lambda turn: _polled(turn, key), WAITING)


def _polled(turn: Turn, key: str) -> Outcome | None:
    ctx, state, spec = turn.ctx, turn.state, turn.spec
    if state.gate != key:
        return None  # another gate, or this one opened meanwhile
    hooks = spec.hooks_of(gates.point(key))
    called = tuple(h for h in hooks if h.url)
    if not called:
        return None  # a gate of hooks without a URL waits for the confirm command
    answers = gates.call_all(ctx.kube, spec, state, called, state.phase)
    closed = [a for a in answers if not a.ok]
    if not closed:
        return _open(turn, f"its hooks ({', '.join(a.hook for a in answers)})")
    why = "; ".join(f"{a.hook} {a.why}" for a in closed)
    counted = gates.point(key) == gates.PRE_ROLLOUT  # failed pre-rollout calls add up
    failures = state.gate_failures + 1 if counted else 0
    limit = min(h.failure_limit for h in called)
    if counted and failures >= limit:
        message = f"pre-rollout hooks failed {failures} times: {why}"
        return Outcome(
            state.with_(gate_failures=failures, message=message),
            reply=gates.failed(state.ref, state, "PreRolloutFailed", message),
            note=message,
        )
    ctx.timers.schedule(*gates.next_poll(state, spec, key, ctx.now()))
    message = gates.waiting(
        key, hooks, f"{why} (failure {failures} of {limit})" if counted else why
    )
    if message == state.message and not counted:
        return None  # still closed for the same reason: nothing new to record
    return Outcome(state.with_(gate_failures=failures, message=message), note=message)


def _open(turn: Turn, by: str, user: str = "") -> Outcome:
    """The gate waited at opens: the move it held back is made."""
    ctx, state, rollout = turn.ctx, turn.state, turn.rollout
    key = state.gate
    opened = gates.passed(state, by)
    said = f"gate {key} opened by {by}"
    point = gates.point(key)
    if point == gates.CONFIRM_ROLLOUT:
        new, reply = moves.begin(
            ctx,
            opened,
            rollout,
            state.canary_revision,
            f"{said}; canary {state.canary_revision}: scaling up",
            attempt=state.attempt,
        )
        return Outcome(new, reply=reply, note=new.message, user=user)
    if point == gates.CONFIRM_TRAFFIC:
        outcome = moves.set_weight(ctx, opened, rollout, int(key.partition("@")[2] or 0))
    elif point == gates.PRE_ROLLOUT:
        outcome = moves.next_step(ctx, opened, rollout, -1, note=said)
    else:  # confirm-promotion
        outcome = moves.next_step(ctx, opened, rollout, len(rollout.spec.steps) - 1, note=said)
    note = outcome.note if said in outcome.note else f"{said}; {outcome.note}"
    return Outcome(outcome.state, reply=outcome.reply, note=note, user=user)


def _confirmed(turn: Turn, command: Command) -> Outcome | None:
    outcome = _open(turn, command.user, command.user)
    return command.done(outcome.state or turn.state, outcome.note, reply=outcome.reply)


def _rollback(turn: Turn) -> Outcome | None:
    ctx, state, spec = turn.ctx, turn.state, turn.spec
    hooks = spec.hooks_of(gates.ROLLBACK)
    if not hooks:
        return None
    if gates.unstarted(state):  # no canary to roll back yet
        ctx.timers.schedule(*gates.next_poll(state, spec, gates.ROLLBACK, ctx.now()))
        return None
    answers = gates.call_all(ctx.kube, spec, state, hooks, state.phase)
    yes = [a for a in answers if a.ok]
    if yes:
        message = f"rollback hook {yes[0].hook} {yes[0].why}: rolling back"
        return Outcome(
            state.with_(message=message),
            reply=gates.failed(state.ref, state, "RolledBackByHook", message),
            note=message,
        )
    ctx.timers.schedule(*gates.next_poll(state, spec, gates.ROLLBACK, ctx.now()))
    return None


def _post_rollout(ctx: Context, event: CloudEvent) -> None:
    ref = RolloutRef.parse(event.get_subject())
    if not ctx.store.first_delivery(gates.POST_ROLLOUT, events.key(event), PROCESSED_TTL):
        return
    obj = ctx.kube.rollout(ref.namespace, ref.name)
    if obj is None:
        return
    try:
        spec = models.parse(obj)
    except models.InvalidSpec:
        return
    hooks: tuple[Hook, ...] = spec.hooks_of(gates.POST_ROLLOUT)
    loaded: RolloutState = ctx.store.load(ref)  # the revision is the event's (promoted: stable)
    state = loaded.with_(canary_revision=events.ext(event, Ext.REVISION) or loaded.stable_revision)
    promoted = event.get_type() == Type.ROLLOUT_PROMOTED
    outcome = "promoted" if promoted else "aborted"
    phase = "Succeeded" if promoted else "Failed"
    for answer in gates.call_all(ctx.kube, spec, state, hooks, phase):
        text = f"post-rollout hook {answer.hook} ({outcome}): {answer.why}"
        log.info("%s: %s", ref.subject, text)
        ctx.kube.record_event(obj, "PostRolloutHook", text, warning=not answer.ok)
