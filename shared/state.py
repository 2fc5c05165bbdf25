"""Rollout (and Experiment) state in Redis: the only module that talks to Redis.

Each rollout has a hash (its state, with a ``version`` for compare-and-set), a capped history
stream, and processed-event markers with a TTL; all three share the hash tag ``{ns/name}`` so
one Lua script can update them atomically, also on Redis Cluster. :class:`Keys` is the whole
key scheme. A commit is one script: check the version, write the new state, mark the event
processed, append the history entry, or do nothing at all. An Experiment has the same three
under keys of its own (:class:`ExperimentState`, committed by the same script). Nothing here
decides transitions.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, cast

import redis

from shared.events import RolloutRef

PROCESSED_TTL = 24 * 3600
"""Seconds a processed-event marker is kept (longer than any broker retry schedule)."""
BLOCK_SLICE = 2.0
"""Seconds one blocking read waits at most (redis-py gives up reading after 5 s)."""
HISTORY_MAXLEN = 1000
"""Entries kept per rollout history stream (approximately: XADD MAXLEN ~)."""


class Keys:
    """Every Redis key Ferry uses. ``{ns/name}`` is a hash tag: one slot per rollout."""

    state = "ferry:{{{ns}/{name}}}:state"
    history = "ferry:{{{ns}/{name}}}:history"
    processed = "ferry:{{{ns}/{name}}}:processed:{key}"
    """An event already committed; the value is ``<version>\n<reply>``: the state version its
    commit made and its reply (structured JSON, empty for none)."""
    index = "ferry:rollouts"
    """Set of ``ns/name`` of every rollout with state, for the reconcile tick."""
    deadletters = "ferry:deadletters"
    """Stream of events the broker gave up on."""
    span = "ferry:{{{ns}/{name}}}:span"
    """The trace context (``traceparent``) of the rollout's last committed transition, the
    parent of the next one whose event carries none (``shared.tracing``)."""
    counters = "ferry:counters"
    """Hash of what the functions count (``shared.telemetry``), for the metrics endpoint."""
    notify = "ferry:{{{ns}/{name}}}:notify"
    """Hash of the rollout's notifications (``functions.notify``): per subscription its cursor
    in the history, failed attempts and when to try again, the message of each revision
    (Slack's channel and ``ts``, to update it), and ``seen``: the history entry the last pass
    got to (the tick wakes the notifier when the history is newer)."""
    delivery = "ferry:delivery:{sender}:{id}"
    """A webhook delivery already received (kept for its sender's replay window)."""
    config_key = "ferry:config-key"
    """The installation's HMAC key for the digests of Secret data (``shared.configs``), made
    once: a revision or a copy's name never lets anyone confirm a guess of a Secret's value."""
    notify_lease = "ferry:{{{ns}/{name}}}:notify-lease"
    """Who is sending the rollout's notifications right now (one sender at a time)."""
    experiment = "ferry:{{{ns}/{name}}}:experiment"
    """Hash of an Experiment's progress (:class:`ExperimentState`; the slot of a Rollout of the
    same name, a key of its own)."""
    experiment_history = "ferry:{{{ns}/{name}}}:experiment-history"
    """The Experiment's transitions (a capped stream, as a rollout's history)."""
    experiment_processed = "ferry:{{{ns}/{name}}}:experiment-processed:{key}"
    """An event an Experiment's commit consumed (a measurement request; its value as for
    :attr:`processed`)."""
    experiments = "ferry:experiments"
    """Set of ``ns/name`` of every Experiment with state, for the reconcile tick."""
    load = "ferry:{{{ns}/{name}}}:load"
    """Hash of the rollout's load generation (``functions.load``): the run in progress (its
    id, target, rps, start) and its totals (sent, ok, errors, missed, the rate achieved), or
    why and when it stopped."""
    load_lease = "ferry:{{{ns}/{name}}}:load-lease"
    """Who is generating the rollout's load right now (one generator at a time)."""

    @staticmethod
    def of(template: str, ref: RolloutRef, **extra: str) -> str:
        return template.format(ns=ref.namespace, name=ref.name, **extra)


class Stage(StrEnum):
    """Where a rollout is in its life; the phase shown to users derives from it."""

    INITIALIZING = "initializing"
    """Primary, Services and router created; waiting for the primary to be ready."""
    HEALTHY = "healthy"
    """At rest: the primary serves the stable revision, the target runs 0 replicas."""
    SCALING = "scaling"
    """A new revision: the canary (target) is scaled up; waiting for it to be ready."""
    STEPPING = "stepping"
    """Running canary step ``step``."""
    ANALYZING = "analyzing"
    """Running the AnalysisRun of step ``step``; the step completes when it succeeds."""
    PAUSED = "paused"
    """Paused at step ``step``: until ``pause_until``, until promoted when indefinite (also
    after an inconclusive analysis), or until resumed when a person paused it."""
    STALLED = "stalled"
    """The canary missed its progress deadline and keeps trying (progressDeadlineAbort off)."""
    PROMOTING = "promoting"
    """The primary took the canary's template; waiting for the primary to be ready."""
    ABORTED = "aborted"
    """Traffic back on stable, canary scaled down; waiting for a new revision."""
    GATED = "gated"
    """Held at a gate (``gate``: confirm-rollout, pre-rollout, confirm-traffic-increase@N,
    confirm-promotion) until its hooks answer 2xx or a person or a webhook confirms it; then
    the move it held back is made (``shared.moves``)."""
    INVALID = "invalid"
    """The spec is invalid; nothing is touched until it is fixed."""


ACTIVE = frozenset(
    {Stage.SCALING, Stage.STALLED, Stage.STEPPING, Stage.ANALYZING, Stage.PAUSED, Stage.GATED}
)
"""Stages of a canary in progress, before promotion: where it can be paused or aborted."""

PHASES = {
    Stage.INITIALIZING: "Progressing",
    Stage.HEALTHY: "Healthy",
    Stage.SCALING: "Progressing",
    Stage.STEPPING: "Progressing",
    Stage.ANALYZING: "Progressing",
    Stage.PAUSED: "Paused",
    Stage.STALLED: "Degraded",
    Stage.PROMOTING: "Progressing",
    Stage.ABORTED: "Degraded",
    Stage.INVALID: "Degraded",
    Stage.GATED: "Paused",
}


@dataclass(frozen=True)
class RolloutState:
    """One rollout's progress. ``version`` is the compare-and-set counter (0 = no state)."""

    namespace: str
    name: str
    version: int = 0
    stage: Stage = Stage.INITIALIZING
    message: str = ""
    reason: str = ""
    stable_revision: str = ""
    canary_revision: str = ""
    step: int = 0
    weight: int = 0
    attempt: int = 0
    pause_until: float = 0.0
    """Epoch seconds a timed pause ends; 0 for none or an indefinite pause."""
    pause_started: float = 0.0
    stage_since: float = 0.0
    """Epoch seconds the current stage began (progress deadline, display)."""
    generation: int = 0
    """The Rollout's metadata.generation last observed."""
    uid: str = ""
    """The Rollout's uid, so a deleted-and-recreated Rollout starts afresh."""
    paused_by: str = ""
    """Who paused the rollout by hand ("" when nobody did): nothing moves on until resumed."""
    scaled_down: bool = False
    """An aborted canary was scaled down (after abortScaleDownDelaySeconds, or at once)."""
    blocked: str = ""
    """Why the rollout cannot go on until something outside it is fixed (a routing object the
    router needs is missing): the phase is Degraded with this message until then."""
    runs: dict[str, Any] = field(default_factory=dict)
    """AnalysisRuns of the current attempt by name (see ``shared.analysis.runs``)."""
    gate: str = ""
    """The gate the rollout waits at (stage ``gated``)."""
    gates_passed: tuple[str, ...] = ()
    """The gates of this attempt that opened (each is passed once)."""
    gate_failures: int = 0
    """Failed calls of the pre-rollout hooks at the gate waited at."""
    routes: tuple[int, ...] = ()
    """The header and mirror routes the steps run so far have set, as the indexes of the steps
    that set them (in the order set); in effect while the canary is in progress
    (``shared.levels``)."""
    template: str = ""
    """The hash of the canary revision's pod template alone (without its ConfigMaps and
    Secrets), to tell a revision that changed only their data."""
    cold: bool = False
    """The canary's Pods predate its revision (only its ConfigMaps or Secrets changed while it
    ran): it is scaled to zero before it scales up, so every Pod starts with the new data."""
    pinned: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """The stable revisions, newest first, each with the ConfigMaps and Secrets its primary
    template named (``Kind/name``): their copies are kept (``shared.configs``)."""
    restarted_at: float = 0.0
    """Epoch seconds of the last restart of the stable Pods a person asked for (0: never): the
    primary's pod template carries it (``shared.levels``), so its Pods are replaced without a
    new revision."""
    restarted_primary: str = ""
    """The uid of the primary whose Pods that restart replaces: a primary made again since
    (after an invalid spec was fixed, say) started all its Pods after it, and is not restarted
    a second time."""

    @property
    def ref(self) -> RolloutRef:
        return RolloutRef(self.namespace, self.name)

    @property
    def exists(self) -> bool:
        return self.version > 0

    @property
    def phase(self) -> str:
        if self.blocked:
            return "Degraded"
        if self.paused_by and self.stage in ACTIVE:
            return "Paused"
        return PHASES[self.stage]

    def to(self, stage: Stage, now: float, **changes: Any) -> RolloutState:
        """This state moved to ``stage`` (``stage_since`` reset when the stage changes, unless
        given)."""
        changes.setdefault("stage_since", now if stage != self.stage else self.stage_since)
        return replace(self, stage=stage, **changes)

    def paused(self, now: float, reason: str, message: str, *, until: float = 0.0) -> RolloutState:
        """This state paused from ``now`` until epoch second ``until`` (0: until promoted)."""
        return self.to(
            Stage.PAUSED, now, pause_started=now, pause_until=until, reason=reason, message=message
        )

    def with_(self, **changes: Any) -> RolloutState:
        return replace(self, **changes)

    def to_fields(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in fields(self):
            if f.name in ("namespace", "name", "version"):
                continue
            value = getattr(self, f.name)
            if f.name in ("runs", "routes", "gates_passed", "pinned"):
                out[f.name] = json.dumps(value)
            elif isinstance(value, bool):
                out[f.name] = "1" if value else ""
            else:
                out[f.name] = str(value)
        return out

    @classmethod
    def from_fields(cls, ref: RolloutRef, raw: dict[bytes, bytes]) -> RolloutState:
        if not raw:
            return cls(ref.namespace, ref.name)
        values = {k.decode(): v.decode() for k, v in raw.items()}
        legacy = json.loads(values.pop("extra", "{}"))  # written before paused_by was a field
        values.setdefault("paused_by", str(legacy.get("paused_by", "")))
        values.setdefault("scaled_down", str(legacy.get("scaled_down", "")))
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in ("namespace", "name") or f.name not in values:
                continue
            text = values[f.name]
            if f.name == "runs":
                kwargs[f.name] = json.loads(text)
            elif f.name == "routes":
                kwargs[f.name] = tuple(int(n) for n in json.loads(text))
            elif f.name == "gates_passed":
                kwargs[f.name] = tuple(str(n) for n in json.loads(text))
            elif f.name == "pinned":
                kwargs[f.name] = tuple(
                    (str(revision), tuple(str(n) for n in names))
                    for revision, names in json.loads(text)
                )
            elif f.type == "bool":
                kwargs[f.name] = text == "1"
            elif f.name == "stage":
                kwargs[f.name] = Stage(text)
            elif f.type in ("int",):
                kwargs[f.name] = int(text)
            elif f.type in ("float",):
                kwargs[f.name] = float(text)
            else:
                kwargs[f.name] = text
        return cls(ref.namespace, ref.name, **kwargs)


_COMMIT = """
local current = redis.call('HGET', KEYS[1], 'version') or '0'
if current ~= ARGV[1] then return 0 end
if ARGV[8] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local fields = cjson.decode(ARGV[4])
local flat = {}
for k, v in pairs(fields) do flat[#flat + 1] = k; flat[#flat + 1] = v end
if ARGV[6] == '1' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'version', tonumber(ARGV[1]) + 1, unpack(flat))
end
if ARGV[8] == '1' then
  local made = (ARGV[6] == '1') and 0 or (tonumber(ARGV[1]) + 1)
  redis.call('SET', KEYS[2], made .. '\\n' .. ARGV[7], 'EX', tonumber(ARGV[2]))
end
if ARGV[5] ~= '' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', tonumber(ARGV[3]), '*', 'entry', ARGV[5])
end
if ARGV[9] ~= '' then
  redis.call('SET', KEYS[4], ARGV[9], 'EX', tonumber(ARGV[10]))
end
return 1
"""
SPAN_TTL = 30 * 24 * 3600
"""Seconds the last span of a rollout is kept (a rollout idle longer starts a new chain)."""


_NOTE = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[2])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + n)) end
if #ARGV > 2 + n then redis.call('HDEL', KEYS[1], unpack(ARGV, 3 + n, #ARGV)) end
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class Conflict(Exception):
    """The state changed since it was loaded: reload, re-check, retry."""


class AlreadyProcessed(Exception):
    """The event was committed by an earlier (or concurrent) delivery."""


class StateStore:
    """Load, compare-and-set and history for rollouts."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._commit = client.register_script(_COMMIT)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self._note = client.register_script(_NOTE)
        self._config_key: bytes | None = None

    @classmethod
    def from_url(cls, url: str) -> StateStore:
        return cls(redis.Redis.from_url(url))

    def load(self, ref: RolloutRef) -> RolloutState:
        raw = self.redis.hgetall(Keys.of(Keys.state, ref))
        return RolloutState.from_fields(ref, raw)  # type: ignore[arg-type]

    def load_many(self, refs: list[RolloutRef]) -> list[RolloutState]:
        """The states of ``refs``, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for ref in refs:
            pipe.hgetall(Keys.of(Keys.state, ref))
        found = pipe.execute()
        return [RolloutState.from_fields(ref, raw) for ref, raw in zip(refs, found, strict=True)]

    def load_with_span(self, ref: RolloutRef) -> tuple[RolloutState, str]:
        """The state and the rollout's last span (``""``: none), in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(Keys.of(Keys.state, ref))
        pipe.get(Keys.of(Keys.span, ref))
        raw, span = pipe.execute()
        return RolloutState.from_fields(ref, raw), span.decode() if span else ""

    def add_to_counters(self, amounts: dict[str, float]) -> None:
        """Add each amount to its counter (one round trip; no transaction: counters only
        grow, and each addition is atomic)."""
        pipe = self.redis.pipeline(transaction=False)
        for name, amount in amounts.items():
            pipe.hincrbyfloat(Keys.counters, name, amount)
        pipe.execute()

    def counters(self) -> dict[str, float]:
        raw = cast("dict[bytes, bytes]", self.redis.hgetall(Keys.counters))
        return {k.decode(): float(v) for k, v in raw.items()}

    def processed(self, ref: RolloutRef, event_key: str) -> bool:
        return bool(self.redis.exists(Keys.of(Keys.processed, ref, key=event_key)))

    def answer(self, ref: RolloutRef, event_key: str) -> tuple[int, str] | None:
        """The state version a processed event's commit made and its reply ("" for none);
        None if not processed."""
        raw = self.redis.get(Keys.of(Keys.processed, ref, key=event_key))
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        version, _, reply = text.partition("\n")
        return (int(version) if version.isdigit() else 0), reply

    def commit(
        self,
        old: RolloutState,
        new: RolloutState | None,
        *,
        event_key: str,
        history: dict[str, Any] | None,
        reply: str = "",
        consume: bool = True,
        span: str = "",
    ) -> None:
        """Atomically: if the state is still ``old``, write ``new`` (None deletes the state),
        mark the event processed (keeping ``reply``, the event's answer, for a redelivery;
        not when ``consume`` is false: the same event must apply when it comes again) and
        append ``history`` (and keep ``span``, the transition's ``traceparent``, as the rollout's
        last span). Raises Conflict or AlreadyProcessed."""
        ref = old.ref
        if new is not None:
            self.redis.sadd(Keys.index, ref.subject)  # idempotent; other slot, so outside
        self._cas(
            (Keys.state, Keys.processed, Keys.history),
            ref,
            old.version,
            new.to_fields() if new is not None else None,
            event_key=event_key,
            history=history,
            reply=reply,
            consume=consume,
            span=span,
        )
        if new is None:
            self.redis.srem(Keys.index, ref.subject)

    def _cas(
        self,
        templates: tuple[str, str, str],
        ref: RolloutRef,
        version: int,
        fields_: dict[str, str] | None,
        *,
        event_key: str,
        history: dict[str, Any] | None,
        reply: str = "",
        consume: bool = True,
        span: str = "",
    ) -> None:
        """The commit script over one hash (``templates``: its state, processed and history
        keys): ``fields_`` written if its version is still ``version`` (None deletes it)."""
        state, processed, stream = templates
        entry = ""
        if history is not None:
            entry = json.dumps({"time": time.time(), **history}, sort_keys=True)
        result = self._commit(
            keys=[
                Keys.of(state, ref),
                Keys.of(processed, ref, key=event_key),
                Keys.of(stream, ref),
                Keys.of(Keys.span, ref),
            ],
            args=[
                str(version),
                PROCESSED_TTL,
                HISTORY_MAXLEN,
                json.dumps(fields_ if fields_ is not None else {}),
                entry,
                "1" if fields_ is None else "0",
                reply,
                "1" if consume else "0",
                span,
                SPAN_TTL,
            ],
        )
        if result == 0:
            raise Conflict(f"{ref.subject} changed concurrently")
        if result == -1:
            raise AlreadyProcessed(event_key)

    def recent(self, ref: RolloutRef, count: int) -> list[dict[str, Any]]:
        """The last ``count`` history entries, oldest first."""
        entries = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]",
            self.redis.xrevrange(Keys.of(Keys.history, ref), count=count),
        )
        return [json.loads(fields_[b"entry"]) for _, fields_ in reversed(entries)]

    def history(self, ref: RolloutRef, count: int | None = None) -> list[dict[str, Any]]:
        """The rollout's history, oldest first."""
        entries = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]",
            self.redis.xrange(Keys.of(Keys.history, ref), count=count),
        )
        return [json.loads(fields_[b"entry"]) for _, fields_ in entries]

    def history_head(self, ref: RolloutRef) -> str:
        """The id of the rollout's newest history entry (``0-0``: none yet)."""
        found = cast(
            "list[tuple[bytes, Any]]", self.redis.xrevrange(Keys.of(Keys.history, ref), count=1)
        )
        return found[0][0].decode() if found else "0-0"

    def history_after(self, ref: RolloutRef, after: str, wait: float) -> str:
        """The id of the rollout's newest history entry, waiting up to ``wait`` seconds for
        one newer than ``after``; ``after`` itself if none came. A change notice for live
        views: blocking reads (of at most :data:`BLOCK_SLICE` each: the client's connection
        may not wait longer for an answer), no polling."""
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            found = cast(
                "list[tuple[bytes, list[tuple[bytes, Any]]]]",
                self.redis.xread(
                    {Keys.of(Keys.history, ref): after},
                    count=1000,
                    block=max(int(min(left, BLOCK_SLICE) * 1000), 1),
                ),
            )
            for _, entries in found or []:
                if entries:
                    return entries[-1][0].decode()
            if left <= BLOCK_SLICE:
                return after

    def history_since(
        self, ref: RolloutRef, after: str, count: int = 100
    ) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``count`` history entries newer than entry id ``after``, oldest first, each
        with its id."""
        found = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]",
            self.redis.xrange(Keys.of(Keys.history, ref), min=f"({after}", count=count),
        )
        return [(id_.decode(), json.loads(fields_[b"entry"])) for id_, fields_ in found]

    def notifications(self, ref: RolloutRef) -> dict[str, str]:
        """The rollout's notification bookkeeping (:attr:`Keys.notify`)."""
        raw = cast("dict[bytes, bytes]", self.redis.hgetall(Keys.of(Keys.notify, ref)))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def note_notifications(
        self,
        ref: RolloutRef,
        values: dict[str, str],
        drop: tuple[str, ...] = (),
        *,
        holder: str = "",
    ) -> bool:
        """Set ``values`` and remove ``drop`` in the notification bookkeeping, at once, and
        (given a ``holder``) only while it holds the lease; False when it does not."""
        flat = [x for pair in values.items() for x in pair]
        done = self._note(
            keys=[Keys.of(Keys.notify, ref), Keys.of(Keys.notify_lease, ref)],
            args=[holder, str(len(flat)), *flat, *drop],
        )
        return bool(done)

    def forget_notifications(self, ref: RolloutRef) -> None:
        self.redis.delete(Keys.of(Keys.notify, ref))

    def lease_notifications(self, ref: RolloutRef, holder: str, seconds: float) -> bool:
        """Take the rollout's notification lease for ``seconds`` unless another holds it."""
        key = Keys.of(Keys.notify_lease, ref)
        return bool(self.redis.set(key, holder, nx=True, px=int(seconds * 1000)))

    def release_notifications(self, ref: RolloutRef, holder: str) -> None:
        """Give the lease back if ``holder`` still has it (it may have expired and moved)."""
        self._release(keys=[Keys.of(Keys.notify_lease, ref)], args=[holder])

    def load_progress(self, ref: RolloutRef) -> dict[str, str]:
        """The rollout's load generation as last written (:attr:`Keys.load`)."""
        raw = cast("dict[bytes, bytes]", self.redis.hgetall(Keys.of(Keys.load, ref)))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def note_load(
        self, ref: RolloutRef, values: dict[str, str], drop: tuple[str, ...] = (), *, holder: str
    ) -> bool:
        """Set ``values`` and remove ``drop`` in the load's progress, at once, only while
        ``holder`` holds the load lease; False when it does not."""
        flat = [x for pair in values.items() for x in pair]
        done = self._note(
            keys=[Keys.of(Keys.load, ref), Keys.of(Keys.load_lease, ref)],
            args=[holder, str(len(flat)), *flat, *drop],
        )
        return bool(done)

    def forget_load(self, ref: RolloutRef) -> None:
        self.redis.delete(Keys.of(Keys.load, ref))

    def lease_load(self, ref: RolloutRef, holder: str, seconds: float) -> bool:
        """Take the rollout's load lease for ``seconds`` unless another holds it."""
        key = Keys.of(Keys.load_lease, ref)
        return bool(self.redis.set(key, holder, nx=True, px=int(seconds * 1000)))

    def renew_load(self, ref: RolloutRef, holder: str, seconds: float) -> bool:
        """Keep the load lease ``seconds`` more if ``holder`` still has it; False if not."""
        key = Keys.of(Keys.load_lease, ref)
        return bool(self._renew(keys=[key], args=[holder, int(seconds * 1000)]))

    def load_leased(self, ref: RolloutRef) -> bool:
        """Whether a generator holds the rollout's load lease."""
        return bool(self.redis.exists(Keys.of(Keys.load_lease, ref)))

    def release_load(self, ref: RolloutRef, holder: str) -> None:
        """Give the load lease back if ``holder`` still has it."""
        self._release(keys=[Keys.of(Keys.load_lease, ref)], args=[holder])

    def record(self, ref: RolloutRef, history: dict[str, Any]) -> str:
        """Append ``history`` to the rollout's history without a transition (what happened
        beside one, e.g. load started or stopped); its entry id."""
        entry = json.dumps({"time": time.time(), **history}, sort_keys=True)
        added = self.redis.xadd(
            Keys.of(Keys.history, ref),
            {"entry": entry},
            maxlen=HISTORY_MAXLEN,
            approximate=True,
        )
        return added.decode() if isinstance(added, bytes) else str(added)

    def config_key(self) -> bytes:
        """The installation's key for digests of Secret data (made by the first caller)."""
        if self._config_key is None:
            self.redis.set(Keys.config_key, secrets.token_bytes(32), nx=True)
            value = self.redis.get(Keys.config_key)
            if not isinstance(value, bytes):
                raise redis.RedisError("the config key could not be read back")
            self._config_key = value
        return self._config_key

    def first_delivery(self, sender: str, delivery_id: str, seconds: float) -> bool:
        """Remember a webhook delivery for ``seconds``; False when it was received before (a
        replay)."""
        digest = hashlib.sha256(delivery_id.encode()).hexdigest()[:32]
        key = Keys.delivery.format(sender=sender, id=digest)
        return bool(self.redis.set(key, b"1", nx=True, ex=max(int(seconds), 1)))

    def delivered(self, sender: str, delivery_id: str) -> bool:
        """Whether a delivery is remembered (without remembering it)."""
        digest = hashlib.sha256(delivery_id.encode()).hexdigest()[:32]
        return bool(self.redis.exists(Keys.delivery.format(sender=sender, id=digest)))

    def forget_delivery(self, sender: str, delivery_id: str) -> None:
        """Forget a delivery (its handling failed before it took effect: it may come again)."""
        digest = hashlib.sha256(delivery_id.encode()).hexdigest()[:32]
        self.redis.delete(Keys.delivery.format(sender=sender, id=digest))

    def load_experiment(self, ref: RolloutRef) -> ExperimentState:
        raw = self.redis.hgetall(Keys.of(Keys.experiment, ref))
        return ExperimentState.from_fields(ref, raw)  # type: ignore[arg-type]

    def experiment_answer(self, ref: RolloutRef, event_key: str) -> bool:
        """Whether an Experiment's commit consumed ``event_key``."""
        return bool(self.redis.exists(Keys.of(Keys.experiment_processed, ref, key=event_key)))

    def commit_experiment(
        self,
        old: ExperimentState,
        new: ExperimentState | None,
        *,
        event_key: str,
        history: dict[str, Any] | None,
        consume: bool = False,
    ) -> None:
        """As :meth:`commit`, for an Experiment: if its state is still ``old``, write ``new``
        (None deletes it), mark ``event_key`` consumed when ``consume``, append ``history``.
        Raises Conflict or AlreadyProcessed."""
        ref = old.ref
        if new is not None:
            self.redis.sadd(Keys.experiments, ref.subject)
        self._cas(
            (Keys.experiment, Keys.experiment_processed, Keys.experiment_history),
            ref,
            old.version,
            new.to_fields() if new is not None else None,
            event_key=event_key,
            history=history,
            consume=consume,
        )
        if new is None:
            self.redis.srem(Keys.experiments, ref.subject)
            self.redis.delete(Keys.of(Keys.experiment_history, ref))

    def experiment_history(self, ref: RolloutRef) -> list[dict[str, Any]]:
        """The Experiment's transitions, oldest first."""
        entries = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]",
            self.redis.xrange(Keys.of(Keys.experiment_history, ref)),
        )
        return [json.loads(fields_[b"entry"]) for _, fields_ in entries]

    def experiments(self) -> Iterator[RolloutRef]:
        """Every Experiment that has state."""
        for member in sorted(cast("set[bytes]", self.redis.smembers(Keys.experiments))):
            namespace, _, name = member.decode().partition("/")
            yield RolloutRef(namespace, name)

    def rollouts(self) -> Iterator[RolloutRef]:
        """Every rollout that has state."""
        for member in sorted(cast("set[bytes]", self.redis.smembers(Keys.index))):
            namespace, _, name = member.decode().partition("/")
            yield RolloutRef(namespace, name)

    def record_dead_letter(self, event_json: str, reason: str) -> None:
        self.redis.xadd(
            Keys.deadletters,
            {"event": event_json, "reason": reason},
            maxlen=HISTORY_MAXLEN,
            approximate=True,
        )


@dataclass(frozen=True)
class ExperimentState:
    """One Experiment's progress (``shared.experiments``). ``version`` is the compare-and-set
    counter (0 = no state)."""

    namespace: str
    name: str
    version: int = 0
    uid: str = ""
    """The Experiment's uid: one created again under the same name starts afresh."""
    phase: str = ""
    """Argo's phase (``Pending``, ``Running``, ``Successful``, ``Failed``, ``Error``,
    ``Inconclusive``); "" before the first look."""
    message: str = ""
    started_at: float = 0.0
    """When Ferry first saw it (its progress deadline counts from here)."""
    available_at: float = 0.0
    """When every template was available (its duration counts from here); 0 before."""
    ended_at: float = 0.0
    hashes: dict[str, str] = field(default_factory=dict)
    """Template name -> the pod template hash of its Pods."""
    runs: dict[str, Any] = field(default_factory=dict)
    """Its AnalysisRuns by name (``shared.analysis.runs``)."""
    owner: str = ""
    """The Rollout whose step made it ("" for none), told when it ends or is deleted."""
    owner_uid: str = ""

    @property
    def ref(self) -> RolloutRef:
        return RolloutRef(self.namespace, self.name)

    @property
    def exists(self) -> bool:
        return self.version > 0

    def with_(self, **changes: Any) -> ExperimentState:
        return replace(self, **changes)

    def to_fields(self) -> dict[str, str]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("namespace", "name", "version"):
            data.pop(key)
        return {"data": json.dumps(data, sort_keys=True)}

    @classmethod
    def from_fields(cls, ref: RolloutRef, raw: dict[bytes, bytes]) -> ExperimentState:
        if not raw or b"data" not in raw:
            return cls(ref.namespace, ref.name)
        data = json.loads(raw[b"data"])
        known = {f.name for f in fields(cls)} - {"namespace", "name", "version"}
        return cls(
            ref.namespace,
            ref.name,
            version=int(raw.get(b"version", b"0")),
            **{k: v for k, v in data.items() if k in known},
        )


def as_dict(state: RolloutState) -> dict[str, Any]:
    return asdict(state)
