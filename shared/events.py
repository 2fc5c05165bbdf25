"""The CloudEvent catalogue: every event type Ferry handles or emits, defined once, here.

Ferry's own types are ``dev.ferry.<noun>.<past-tense verb>``; each has one line saying what it
means. The types Ferry receives from Knative sources keep their upstream names. ``subject`` is
always ``<namespace>/<rollout>`` for Ferry's events. Extension attributes carry what guards
need (revision, step, ...) and are named here too. This module builds and reads events; it does
no I/O (see ``shared.endpoint`` for HTTP in, ``shared.sink`` for HTTP out).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cloudevents.core.bindings import http as ce_http
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.v1.event import CloudEvent

SOURCE = "/ferry"
"""``source`` of every event Ferry emits (its functions add their name: ``/ferry/<function>``)."""


class Type(StrEnum):
    """Every CloudEvent type in Ferry's world, with its meaning."""

    # -- from Knative sources (upstream names) ----------------------------------------------
    RESOURCE_ADDED = "dev.knative.apiserver.resource.add"
    """ApiServerSource: a watched Kubernetes object was created (or first listed)."""
    RESOURCE_UPDATED = "dev.knative.apiserver.resource.update"
    """ApiServerSource: a watched Kubernetes object changed."""
    RESOURCE_DELETED = "dev.knative.apiserver.resource.delete"
    """ApiServerSource: a watched Kubernetes object was deleted."""
    REFERENCE_ADDED = "dev.knative.apiserver.ref.add"
    """ApiServerSource in Reference mode (ConfigMaps: their data never travels): created."""
    REFERENCE_UPDATED = "dev.knative.apiserver.ref.update"
    """ApiServerSource in Reference mode: a watched object changed."""
    REFERENCE_DELETED = "dev.knative.apiserver.ref.delete"
    """ApiServerSource in Reference mode: a watched object was deleted."""
    TICK = "dev.knative.sources.ping"
    """PingSource: the periodic reconcile tick."""
    GITHUB_PACKAGE = "dev.knative.source.github.package"
    """GitHubSource: a package (a GHCR container image) was published (data: GitHub's
    payload)."""
    GITHUB_DISPATCH = "dev.knative.source.github.repository_dispatch"
    """GitHubSource: a repository_dispatch (a CI job asking ``ferry.<action>``)."""

    # -- Ferry's own -------------------------------------------------------------------------
    ROLLOUT_CHANGED = "dev.ferry.rollout.changed"
    """A Rollout was created, or its spec (generation) changed."""
    ROLLOUT_DELETED = "dev.ferry.rollout.deleted"
    """A Rollout was deleted: remove what Ferry created, leave the target serving."""
    REVISION_DETECTED = "dev.ferry.revision.detected"
    """The target's pod template (with its config) hashes to a revision Ferry has not seen."""
    CANARY_EMPTIED = "dev.ferry.canary.emptied"
    """The canary has no Pods left (a cold restart: its Pods predated the configuration of its
    revision); it scales up now."""
    CANARY_SCALED = "dev.ferry.canary.scaled"
    """The canary (the target Deployment) finished scaling up: every replica is available at
    the rollout's canary revision."""
    PRIMARY_UPDATED = "dev.ferry.primary.updated"
    """The primary Deployment finished rolling out the revision it was given: every replica is
    updated and available."""
    STEP_STARTED = "dev.ferry.step.started"
    """Step N of the canary strategy begins."""
    STEP_COMPLETED = "dev.ferry.step.completed"
    """Step N of the canary strategy is done."""
    PAUSE_EXPIRED = "dev.ferry.pause.expired"
    """The timed pause of step N has lasted its duration (a timer)."""
    PROMOTION_STARTED = "dev.ferry.promotion.started"
    """Every step is done: the primary takes the canary's template."""
    DEADLINE_EXPIRED = "dev.ferry.deadline.expired"
    """The canary made no progress within progressDeadlineSeconds (a timer)."""
    ROLLOUT_PROMOTED = "dev.ferry.rollout.promoted"
    """The rollout finished: the new revision is stable and serves all traffic."""
    ROLLOUT_ABORTED = "dev.ferry.rollout.aborted"
    """The rollout was aborted: traffic is back on the stable revision."""
    DRIFT_DETECTED = "dev.ferry.drift.detected"
    """An object Ferry keeps for the rollout (routing objects, canary, primary, Services) no
    longer says what the rollout's state says (changed by hand or by another tool)."""
    ROLLOUT_INITIALIZED = "dev.ferry.rollout.initialized"
    """Ferry took over a target: primary, Services and router are in place, phase Healthy."""
    MEASUREMENT_REQUESTED = "dev.ferry.measurement.requested"
    """One measurement of one metric of an AnalysisRun is due (a timer, or the Job it waits
    on finished)."""
    ANALYSIS_SUCCEEDED = "dev.ferry.analysis.succeeded"
    """An AnalysisRun completed Successful."""
    ANALYSIS_FAILED = "dev.ferry.analysis.failed"
    """An AnalysisRun completed Failed or Error: the rollout must abort."""
    ANALYSIS_UNDECIDED = "dev.ferry.analysis.undecided"
    """An AnalysisRun completed Inconclusive: the rollout pauses until a person decides."""
    SCALEDOWN_ELAPSED = "dev.ferry.scaledown.elapsed"
    """abortScaleDownDelaySeconds passed since an abort: the canary may be scaled down (a
    timer)."""
    PROMOTION_REQUESTED = "dev.ferry.promotion.requested"
    """A person asked to promote: leave the current pause or analysis (``full``: skip every
    remaining step)."""
    ABORT_REQUESTED = "dev.ferry.abort.requested"
    """A person asked to abort the rollout."""
    RETRY_REQUESTED = "dev.ferry.retry.requested"
    """A person asked to retry an aborted rollout from step 0."""
    PAUSE_REQUESTED = "dev.ferry.pause.requested"
    """A person asked to pause the rollout where it is."""
    RESUME_REQUESTED = "dev.ferry.resume.requested"
    """A person asked to resume a rollout they paused."""
    RESTART_REQUESTED = "dev.ferry.restart.requested"
    """A person asked to restart the stable revision's Pods (the primary's), without a new
    revision."""
    WEBHOOK_VERIFIED = "dev.ferry.webhook.verified"
    """A webhook from outside was authenticated by its sender's receiver and asks one action of
    one rollout, as its namespace's WebhookPolicy allows (data: the policy, the sender, the
    delivery's id, the action, the tag)."""
    GATE_POLLED = "dev.ferry.gate.polled"
    """Time to call the hooks of the gate the rollout waits at (``gate``: its key), or to check
    its rollback hooks (``gate: rollback``); a timer, or the tick."""
    GATE_CONFIRMED = "dev.ferry.gate.confirmed"
    """A person (or a webhook, as its policy's identity) asked to open the gate the rollout
    waits at."""
    GATE_FAILED = "dev.ferry.gate.failed"
    """A pre-rollout hook kept failing, or a rollback hook answered 2xx: the rollout must abort
    (data: the reason and the message)."""
    ACTION_REQUESTED = "dev.ferry.action.requested"
    """Any CloudEvent producer the Broker admits (a Knative source, a CI system's sink binding)
    asks an action of a rollout (data: ``action``, ``rollout``, ``tag``), acted on as a
    ``knative`` WebhookPolicy naming the event's ``source`` allows."""
    EXPERIMENT_CHANGED = "dev.ferry.experiment.changed"
    """An Experiment (subject ``<namespace>/<experiment>``) was created, changed or deleted,
    or one of its Deployments changed, or the tick looked: bring it one move on."""
    EXPERIMENT_ELAPSED = "dev.ferry.experiment.elapsed"
    """A time an Experiment waits for came (a timer): its duration ended, its progress
    deadline passed, or a measurement of one of its analyses is due (``run``, ``metric``,
    ``index``)."""
    EXPERIMENT_STARTED = "dev.ferry.experiment.started"
    """The Experiment of a Rollout's experiment step runs (every template available; subject:
    the Rollout): the traffic its state asks for now includes the templates with a weight."""
    EXPERIMENT_COMPLETED = "dev.ferry.experiment.completed"
    """The Experiment of a Rollout's experiment step completed (subject: the Rollout; ``run``:
    the Experiment): a hint, its outcome is read from the Experiment's state."""
    MILESTONE_REACHED = "dev.ferry.milestone.reached"
    """A transition that fires notification triggers was committed (its history entry lists
    them): a hint for the notifier, which sends what the history says is due."""
    LOAD_REQUESTED = "dev.ferry.load.requested"
    """The load a rollout wants may have changed, or the next slice of its load is due (a
    transition, the generator itself or the tick): a hint, the load generator reads what is
    wanted from the rollout's state and spec."""


class Ext(StrEnum):
    """Extension attributes (lowercase alphanumerics, at most 20 characters)."""

    REVISION = "revision"
    """The revision the event is about (a guard: stale if the rollout moved to another)."""
    STEP = "step"
    """The canary step index the event is about."""
    ATTEMPT = "attempt"
    """The rollout attempt (bumped on restart or retry), so events of an old attempt are stale."""
    GENERATION = "generation"
    """The Rollout's metadata.generation the event was derived from."""
    RUN = "run"
    """The AnalysisRun the event is about."""
    METRIC = "metric"
    """The metric of the AnalysisRun the event is about."""
    INDEX = "index"
    """Which measurement of the metric (0-based)."""
    POLL = "poll"
    """How many times an in-flight measurement was looked at again."""
    COMMAND = "command"
    """The id of the user command (in the Rollout's status.commands) the event carries out."""
    SEAL = "seal"
    """``webhook.verified``: the HMAC of its subject and data that proves Ferry's webhook
    endpoint verified the delivery (``shared.seals``)."""
    GATE = "gate"
    """The gate the event is about: ``<type>`` or ``confirm-traffic-increase@<step>``, or
    ``rollback`` for a rollback check."""
    TRACEPARENT = "traceparent"
    """W3C trace context (the CloudEvents distributed tracing extension): the span of the
    transition that sent the event. Set on a reply by ``shared.tracing``, never part of the
    id (:func:`with_extension`)."""
    EXPERIMENT_UID = "experimentuid"
    """The uid of the Experiment an ``experiment.*`` event is about (one created again under
    the same name is another experiment)."""
    ROLLOUT_UID = "rolloutuid"
    """The uid of the Rollout the event is about: a Rollout deleted and created again under
    the same name is another rollout, and the events of the old one do not apply to it."""
    # ApiServerSource's own extensions
    KIND = "kind"
    APIVERSION = "apiversion"
    NAME = "name"
    NAMESPACE = "namespace"


_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
assert all(_EXTENSION_NAME.match(e.value) for e in Ext)


class MalformedEvent(ValueError):
    """An HTTP request that is not a valid CloudEvent (answered with 400)."""


_TOO_DEEP = "the JSON is nested too deeply to be read"


@dataclass(frozen=True)
class RolloutRef:
    """Which rollout an event is about, from its ``subject``."""

    namespace: str
    name: str

    @property
    def subject(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, subject: str | None) -> RolloutRef:
        namespace, _, name = (subject or "").partition("/")
        if not namespace or not name or "/" in name:
            raise MalformedEvent(f"subject must be <namespace>/<rollout>, got {subject!r}")
        return cls(namespace, name)


def new(
    type_: Type,
    ref: RolloutRef,
    *,
    source: str = SOURCE,
    data: dict[str, Any] | None = None,
    event_id: str | None = None,
    **extensions: str | int,
) -> CloudEvent:
    """A Ferry event about ``ref``. Extensions must be names from :class:`Ext`.

    Unless ``event_id`` is given, the id is derived from the type, subject and extensions: an
    event is identified by what it says, so the same fact emitted twice (a retry, a timer that
    fires twice, the reconcile tick re-emitting a lost transition) is deduplicated by its
    receiver. A new fact must differ in an extension (revision, step, attempt...)."""
    attributes: dict[str, Any] = {
        "type": str(type_),
        "source": source,
        "subject": ref.subject,
        "id": event_id or fact_id(type_, ref, **extensions),
        "time": datetime.now(UTC),
        "datacontenttype": "application/json",
    }
    for key, value in extensions.items():
        Ext(key)  # raises ValueError for a name outside the catalogue
        attributes[key] = str(value)
    return CloudEvent(attributes, data if data is not None else {})


def with_extension(event: CloudEvent, name: Ext, value: str) -> CloudEvent:
    """``event`` with one more extension attribute, its id unchanged."""
    return CloudEvent({**event.get_attributes(), str(name): value}, event.get_data())


def fact_id(type_: Type, ref: RolloutRef, **extensions: str | int) -> str:
    """The deterministic id of a Ferry event (see :func:`new`)."""
    parts = [str(type_), ref.subject] + [f"{k}={extensions[k]}" for k in sorted(extensions)]
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "\n".join(parts)))


def derived_id(source_key: str, tag: str) -> str:
    """A deterministic id for an event derived from another (its dedupe ``source_key``), so a
    redelivered source event yields the same derived event."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source_key}\n{tag}"))


def ext(event: CloudEvent, name: Ext) -> str | None:
    value = event.get_attributes().get(name.value)
    return None if value is None else str(value)


def ext_int(event: CloudEvent, name: Ext) -> int | None:
    value = ext(event, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise MalformedEvent(f"extension {name.value} must be an integer, got {value!r}") from None


def attempt_of(event: CloudEvent) -> tuple[str, int]:
    """The (revision, attempt) a transition event is about; MalformedEvent if one is missing."""
    revision = ext(event, Ext.REVISION)
    attempt = ext_int(event, Ext.ATTEMPT)
    if not revision or attempt is None:
        raise MalformedEvent(f"{event.get_type()} needs the revision and attempt extensions")
    return revision, attempt


def data(event: CloudEvent) -> dict[str, Any]:
    """The event's data as a dict (an empty dict when it has none)."""
    payload = event.get_data()
    if payload is None or payload == b"" or payload == "":
        return {}
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload)
        except ValueError:
            raise MalformedEvent("event data is not JSON") from None
        except RecursionError:
            raise MalformedEvent(_TOO_DEEP) from None
    if not isinstance(payload, dict):
        raise MalformedEvent("event data must be a JSON object")
    return payload


# -- HTTP binding -------------------------------------------------------------------------


def from_http(headers: dict[str, str], body: bytes) -> CloudEvent:
    """Parse binary or structured HTTP content mode; MalformedEvent on anything invalid."""
    lowered = {k.lower(): v for k, v in headers.items()}
    binary = any(k.startswith("ce-") for k in lowered)
    if binary:
        present = {k[3:] for k in lowered if k.startswith("ce-")}
    elif "cloudevents" in lowered.get("content-type", ""):
        try:
            document = json.loads(body)
        except ValueError:
            raise MalformedEvent("structured CloudEvent body is not JSON") from None
        except RecursionError:
            raise MalformedEvent(_TOO_DEEP) from None
        if not isinstance(document, dict):
            raise MalformedEvent("structured CloudEvent body must be a JSON object")
        present = set(document)
    else:
        raise MalformedEvent(
            "not a CloudEvent: expected ce-* headers (binary mode) or a body of type "
            "application/cloudevents+json (structured mode)"
        )
    missing = sorted({"id", "source", "type", "specversion"} - present)
    if missing:
        raise MalformedEvent(f"missing required attribute(s): {', '.join(missing)}")
    try:
        event = ce_http.from_http_event(ce_http.HTTPMessage(headers=lowered, body=body))
    except (BaseCloudEventException, ValueError, TypeError, KeyError) as exc:
        raise MalformedEvent(f"invalid CloudEvent: {exc}") from None
    except RecursionError:
        raise MalformedEvent(_TOO_DEEP) from None
    if not isinstance(event, CloudEvent):
        raise MalformedEvent("only CloudEvents specversion 1.0 is accepted")
    return event


def to_http(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Binary content mode headers and body."""
    message = ce_http.to_binary_event(event)
    return dict(message.headers), message.body


def to_json(event: CloudEvent) -> str:
    """Structured JSON form, to persist an event (timers) or print it."""
    message = ce_http.to_structured_event(event)
    return message.body.decode()


def from_json(text: str | bytes) -> CloudEvent:
    body = text.encode() if isinstance(text, str) else text
    return from_http({"content-type": "application/cloudevents+json"}, body)


def key(event: CloudEvent) -> str:
    """The dedupe key of an event: uid+resourceVersion for Kubernetes objects (their ``id`` is
    new on every send), source+id for everything else."""
    if event.get_type().startswith("dev.knative.apiserver."):
        meta = (data(event) or {}).get("metadata") or {}
        if meta.get("uid") and meta.get("resourceVersion"):
            verb = event.get_type().rsplit(".", 1)[-1]
            return f"k8s:{meta['uid']}:{meta['resourceVersion']}:{verb}"
    return f"ce:{event.get_source()}:{event.get_id()}"
