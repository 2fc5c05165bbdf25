"""A rollout's AnalysisRuns: starting them, taking one measurement, terminating them.

A run's progress (every measurement, to the full precision the decisions need) lives in the
rollout's state in Redis, so a measurement is committed atomically with whatever it decides;
the ``AnalysisRun`` object in Kubernetes is its readable mirror (Argo's shape, measurements
trimmed by retention). Each measurement is one event: a timer asks for it, the ``measure``
function takes it, records it, decides, and schedules the next. This module holds the effects
(Kubernetes objects, provider calls, timers); the decisions are :mod:`.decisions`', the
reading of specs :mod:`.validation`'s.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, Self, TypeVar

from cloudevents.core.v1.event import CloudEvent

from shared import events, models, objects
from shared.analysis import (
    arguments,
    decisions,
    measurements,
    model,
    providers,
    redaction,
    validation,
)
from shared.analysis.measurements import Measurement
from shared.analysis.model import AnalysisPhase, MeasurementPhase
from shared.context import Context
from shared.events import Type
from shared.kube import ApiError, NotFound
from shared.models import InvalidSpec
from shared.state import ExperimentState, RolloutState

log = logging.getLogger(__name__)

ROLLOUT_LABEL = "ferry.dev/rollout"
"""On every AnalysisRun: the Rollout it belongs to."""
KIND_LABEL = "ferry.dev/analysis-kind"
STEP, BACKGROUND = "step", "background"
RECHECK = 5.0
"""Seconds before an in-flight measurement (a running Job) is looked at again by a timer."""
OUTCOMES = {
    AnalysisPhase.SUCCESSFUL: Type.ANALYSIS_SUCCEEDED,
    AnalysisPhase.FAILED: Type.ANALYSIS_FAILED,
    AnalysisPhase.ERROR: Type.ANALYSIS_FAILED,
    AnalysisPhase.INCONCLUSIVE: Type.ANALYSIS_UNDECIDED,
}


class Owner(Protocol):
    """What runs belong to: a rollout's state or an experiment's (their ``runs`` hold them)."""

    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def uid(self) -> str: ...
    @property
    def runs(self) -> dict[str, Any]: ...
    def with_(self, **changes: Any) -> Self: ...


S = TypeVar("S", bound=Owner)


@dataclass(frozen=True)
class Run:
    """One AnalysisRun as the rollout's state records it."""

    name: str
    kind: str
    """``step`` (blocks its step) or ``background``."""
    step: int
    """The step it belongs to (for background runs: the step it started at)."""
    started_at: float
    measurements: Mapping[str, tuple[Measurement, ...]] = field(default_factory=dict)
    phase: AnalysisPhase | None = None
    message: str = ""
    terminate: bool = False
    due: Mapping[str, tuple[int, float, int]] = field(default_factory=dict)
    """metric -> (index, when, poll) of the measurement its timer will ask for next."""
    experiment: bool = False
    """An experiment step's: ``name`` is the Experiment, whose outcome is the run's."""
    uid: str = ""
    """An experiment step's: the uid of the Experiment it created (only that one's outcome
    counts; another of the name, made by anyone, is not the step's)."""
    backends: tuple[tuple[str, int], ...] = ()
    """An experiment step's: the Services of its templates with a share of traffic, and their
    weights, as the step made them (a later edit of the spec changes nothing that runs)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "uid": self.uid,
            "backends": [list(b) for b in self.backends],
            "name": self.name,
            "kind": self.kind,
            "step": self.step,
            "started_at": self.started_at,
            "phase": self.phase.value if self.phase else None,
            "message": self.message,
            "terminate": self.terminate,
            "due": {metric: list(when) for metric, when in self.due.items()},
            "measurements": {
                metric: [_measurement_dict(m) for m in ms]
                for metric, ms in self.measurements.items()
            },
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Run:
        return cls(
            name=raw["name"],
            kind=raw["kind"],
            step=int(raw["step"]),
            started_at=float(raw["started_at"]),
            phase=AnalysisPhase(raw["phase"]) if raw.get("phase") else None,
            message=str(raw.get("message") or ""),
            terminate=bool(raw.get("terminate")),
            experiment=bool(raw.get("experiment")),
            uid=str(raw.get("uid") or ""),
            backends=tuple((str(b[0]), int(b[1])) for b in raw.get("backends") or ()),
            due={
                metric: (int(when[0]), float(when[1]), int(when[2]))
                for metric, when in (raw.get("due") or {}).items()
            },
            measurements={
                metric: tuple(_measurement(m) for m in ms)
                for metric, ms in (raw.get("measurements") or {}).items()
            },
        )


def _measurement_dict(m: Measurement) -> dict[str, Any]:
    return {
        "phase": m.phase.value,
        "started": m.started_at,
        "finished": m.finished_at,
        "value": m.value,
        "message": m.message,
        "resume": m.resume_at,
        "metadata": dict(m.metadata),
    }


def _measurement(raw: Mapping[str, Any]) -> Measurement:
    return Measurement(
        phase=MeasurementPhase(raw["phase"]),
        started_at=float(raw["started"]),
        finished_at=raw.get("finished"),
        value=raw.get("value"),
        message=str(raw.get("message") or ""),
        resume_at=raw.get("resume"),
        metadata=dict(raw.get("metadata") or {}),
    )


def runs_of(state: Owner) -> dict[str, Run]:
    return {name: Run.from_dict(raw) for name, raw in state.runs.items()}


def with_run(state: S, run: Run) -> S:
    return state.with_(runs={**state.runs, run.name: run.to_dict()})


def active(state: Owner, kind: str | None = None) -> list[Run]:
    """The runs of the current attempt that have not completed."""
    return [
        run
        for run in runs_of(state).values()
        if run.phase is None and (kind is None or run.kind == kind)
    ]


def run_name(state: RolloutState, kind: str, step: int) -> str:
    suffix = "bg" if kind == BACKGROUND else f"step{step}"
    return f"{state.name}-{state.canary_revision[:7]}-{state.attempt}-{suffix}"


# -- starting ---------------------------------------------------------------------------------


def _template(ctx: Context, namespace: str, ref: models.TemplateRef) -> model.Template:
    if ref.cluster_scope:
        obj = ctx.kube.get(models.API_VERSION, model.CLUSTER_TEMPLATE_PLURAL, None, ref.name)
        kind = "ClusterAnalysisTemplate"
    else:
        obj = ctx.kube.get(models.API_VERSION, model.TEMPLATE_PLURAL, namespace, ref.name)
        kind = "AnalysisTemplate"
    if obj is None:
        raise InvalidSpec([f"{kind} {ref.name!r} not found"])
    return validation.parse_template(obj)


def _given_args(
    state: Owner, rollout: dict[str, Any], args: Sequence[models.AnalysisArg]
) -> list[model.Arg]:
    given = []
    for arg in args:
        if arg.value is not None:
            value = arg.value
        elif arg.pod_template_hash is not None:
            if not isinstance(state, RolloutState):
                raise InvalidSpec([f"argument {arg.name!r}: podTemplateHashValue is a Rollout's"])
            value = (
                state.stable_revision
                if arg.pod_template_hash == "Stable"
                else state.canary_revision
            )
        else:
            value = arguments.field_value(rollout, arg.field_path or "")
        given.append(model.Arg(arg.name, value=value))
    return given


def start(
    ctx: Context,
    state: S,
    rollout: dict[str, Any],
    *,
    kind: str,
    step: int,
    templates: Sequence[models.TemplateRef],
    args: Sequence[models.AnalysisArg],
    name: str = "",
    labels: Mapping[str, str] | None = None,
) -> S:
    """Create the AnalysisRun (level-based: an existing one is kept) and schedule the first
    measurement of each metric; returns ``state`` with the run recorded. InvalidSpec when a
    template is missing or invalid, or an argument cannot be resolved. ``rollout`` is the
    owner's object (a Rollout, or an Experiment with ``name`` and ``labels`` of its own)."""
    namespace = state.namespace
    template = validation.merge_templates([_template(ctx, namespace, t) for t in templates])
    given = _given_args(state, rollout, args)
    spec = arguments.run_spec(
        template, given, field=lambda path: arguments.field_value(rollout, path)
    )
    if not name:
        assert isinstance(state, RolloutState)
        name = run_name(state, kind, step)
    existing = runs_of(state).get(name)
    if existing is not None:
        return state
    now = ctx.now()
    obj = {
        "apiVersion": models.API_VERSION,
        "kind": model.RUN_KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                **(labels if labels is not None else {ROLLOUT_LABEL: state.name}),
                KIND_LABEL: kind,
                **objects.MANAGED_LABELS,
            },
            "ownerReferences": [objects.owner_reference(rollout)],
        },
        "spec": spec,
    }
    created = ctx.kube.ensure(obj)
    metrics = _metrics(ctx, namespace, created, rollout)
    run = Run(name=name, kind=kind, step=step, started_at=now)
    for metric in metrics:
        run = _schedule(ctx, state, run, metric.name, 0, now + metric.initial_delay)
    _mirror(ctx, namespace, run, metrics)
    return with_run(state, run)


def _metrics(
    ctx: Context,
    namespace: str,
    run_obj: Mapping[str, Any],
    rollout: Mapping[str, Any],
    *,
    read_secrets: bool = True,
) -> tuple[model.Metric, ...]:
    """The run's metrics; without ``read_secrets``, Secret arguments stand masked (enough to
    judge and show measurements already taken, and no Secret is read to end a run)."""
    return _resolved(ctx, namespace, run_obj, rollout, read_secrets=read_secrets)[0]


def _resolved(
    ctx: Context,
    namespace: str,
    run_obj: Mapping[str, Any],
    rollout: Mapping[str, Any],
    *,
    read_secrets: bool = True,
) -> tuple[tuple[model.Metric, ...], arguments.ResolvedArgs]:
    """The run's metrics with its arguments resolved now (Secrets read at each measurement,
    never stored)."""
    spec, args = _args(ctx, namespace, run_obj, rollout, read_secrets=read_secrets)
    return validation.metrics(spec.template, args), args


SECRET_READER = "ferry-analysis-secret-reader"
"""The ClusterRole (knative/rbac.yaml) a namespace binds to let analyses read its Secrets."""


def _args(
    ctx: Context,
    namespace: str,
    run_obj: Mapping[str, Any],
    rollout: Mapping[str, Any],
    *,
    read_secrets: bool = True,
) -> tuple[model.RunSpec, arguments.ResolvedArgs]:
    spec = validation.parse_run(run_obj)

    def secret(name: str, key: str) -> str:
        if not read_secrets:
            return arguments.MASK
        try:
            obj = ctx.kube.get("v1", "secrets", namespace, name)
        except ApiError as exc:
            if exc.status != 403:
                raise
            raise LookupError(
                f"Ferry may not read secrets in {namespace} (a namespace opts in: kubectl create "
                f"rolebinding ferry-analysis-secrets -n {namespace} "
                f"--clusterrole={SECRET_READER} --serviceaccount=ferry-system:ferry-analysis "
                "--serviceaccount=ferry-system:ferry-experiment)"
            ) from None
        if obj is None:
            raise LookupError(f"secret {name!r} not found")
        data = (obj.get("data") or {}).get(key)
        if data is None:
            raise LookupError(f"secret {name!r} has no key {key!r}")
        return base64.b64decode(data).decode()

    args = arguments.resolve_args(
        spec.template.args,
        {},
        secret=secret,
        field=lambda path: arguments.field_value(dict(rollout), path),
    )
    return spec, args


def measurement_event(
    state: Owner,
    run: str,
    metric: str,
    index: int,
    poll: int = 0,
    *,
    event_id: str | None = None,
) -> CloudEvent:
    """The request for measurement ``index`` of ``metric`` (the timer's id unless given): a
    rollout's ``measurement.requested``, an experiment's ``experiment.elapsed``."""
    if isinstance(state, ExperimentState):
        return events.new(
            Type.EXPERIMENT_ELAPSED,
            state.ref,
            event_id=event_id,
            experimentuid=state.uid,
            run=run,
            metric=metric,
            index=index,
            poll=poll,
        )
    assert isinstance(state, RolloutState)
    return events.new(
        Type.MEASUREMENT_REQUESTED,
        state.ref,
        event_id=event_id,
        rolloutuid=state.uid,
        revision=state.canary_revision,
        attempt=state.attempt,
        run=run,
        metric=metric,
        index=index,
        poll=poll,
    )


def _schedule(
    ctx: Context, state: Owner, run: Run, metric: str, index: int, at: float, poll: int = 0
) -> Run:
    """Set the timer of the next measurement of ``metric``; the run remembers it is due."""
    ctx.timers.schedule(at, measurement_event(state, run.name, metric, index, poll))
    return replace(run, due={**run.due, metric: (index, at, poll)})


def _mirror(ctx: Context, namespace: str, run: Run, metrics: Sequence[model.Metric]) -> None:
    status = decisions.run_status(
        metrics, run.measurements, run.phase, run.message, started_at=run.started_at
    )
    try:
        ctx.kube.merge_patch(
            models.API_VERSION,
            model.RUN_PLURAL,
            namespace,
            run.name,
            {"status": status},
            sub="status",
        )
    except NotFound:
        log.warning("AnalysisRun %s/%s is gone; its status was not written", namespace, run.name)


def failed_to_start(
    state: RolloutState, name: str, kind: str, step: int, now: float, why: str
) -> RolloutState:
    """``state`` with a run that could not start (a missing template, an unresolvable
    argument) recorded as ended in Error, so the rollout aborts like for a failed analysis."""
    run = Run(
        name=name, kind=kind, step=step, started_at=now, phase=AnalysisPhase.ERROR, message=why
    )
    return with_run(state, run)


def outcome_event(state: RolloutState, name: str) -> CloudEvent | None:
    """The event announcing how run ``name`` ended (None while it runs)."""
    run = runs_of(state).get(name)
    if run is None or run.phase is None:
        return None
    return events.new(
        OUTCOMES[run.phase],
        state.ref,
        data={"phase": run.phase.value, "message": run.message},
        rolloutuid=state.uid,
        revision=state.canary_revision,
        attempt=state.attempt,
        run=run.name,
    )


# -- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """What one measurement changed: the new state, and the outcome event when the run ended."""

    state: Any
    """The owner's new state (of the type given)."""
    outcome: CloudEvent | None
    note: str


def take(
    ctx: Context,
    state: Owner,
    rollout: dict[str, Any],
    run_name_: str,
    metric_name: str,
    index: int,
    poll: int,
) -> Measured | None:
    """Take measurement ``index`` of ``metric_name`` (or look again at it while it is in
    flight); None when the event no longer applies."""
    run = runs_of(state).get(run_name_)
    if run is None or run.phase is not None:
        return None
    taken = run.measurements.get(metric_name, ())
    in_flight = bool(taken) and taken[-1].in_flight
    if index != len(taken) and not (in_flight and index == len(taken) - 1):
        return None
    run_obj = ctx.kube.get(models.API_VERSION, model.RUN_PLURAL, state.namespace, run.name)
    if run_obj is None:
        return None
    metrics: tuple[model.Metric, ...] = ()
    args, problem = arguments.ResolvedArgs({}), ""
    try:
        spec, args = _args(ctx, state.namespace, run_obj, rollout)
        metrics = validation.metrics(spec.template, args)
    except InvalidSpec as exc:
        problem = str(exc)  # a rendered field may hold a secret: args are known by now
    metric = next((m for m in metrics if m.name == metric_name), None)
    now = ctx.now()
    started = taken[-1].started_at if in_flight else now
    if metric is None:
        measurement = Measurement(
            MeasurementPhase.ERROR,
            started,
            now,
            message=problem or f"metric {metric_name!r} not in the run",
        )
    else:
        measurement = _observe(ctx, state, run, run_obj, metric, index, args, started, now)
    measurement = measurements.redacted(measurement, args.redactor)  # the only way in
    ms = (*taken[:-1], measurement) if in_flight else (*taken, measurement)
    due = {k: v for k, v in run.due.items() if k != metric_name}
    run = replace(run, measurements={**run.measurements, metric_name: ms}, due=due)
    if metric is not None and measurement.in_flight:
        run = _schedule(
            ctx, state, run, metric_name, index, measurement.resume_at or now + RECHECK, poll + 1
        )
        _mirror(ctx, state.namespace, run, metrics)
        return Measured(with_run(state, run), None, f"{run.name}/{metric_name}: measuring")
    result = decisions.evaluate_run(metrics, run.measurements, terminate=run.terminate)
    if result.phase is not None:
        run = replace(run, phase=result.phase, message=result.message, due={})
    elif metric is not None:
        at = decisions.next_measurement_at(
            metric, ms, run.started_at, terminating=result.terminating
        )
        if at is not None:
            run = _schedule(ctx, state, run, metric_name, len(ms), at)
    _mirror(ctx, state.namespace, run, metrics)
    shown = measurement.value if measurement.value is not None else "no value"
    note = f"{run.name}/{metric_name} #{index + 1}: {measurement.phase.value} ({shown})"
    if result.phase is not None:
        note += f"; run {result.phase.value}" + (f": {result.message}" if result.message else "")
    new = with_run(state, run)
    outcome = outcome_event(new, run.name) if isinstance(new, RolloutState) else None
    return Measured(new, outcome, note)


def _observe(
    ctx: Context,
    state: Owner,
    run: Run,
    run_obj: Mapping[str, Any],
    metric: model.Metric,
    index: int,
    args: arguments.ResolvedArgs,
    started: float,
    now: float,
) -> Measurement:
    provider = providers.get(metric.provider, kube=ctx.kube)
    ref = providers.MeasurementRef(
        state.namespace, run.name, metric.name, index, owner=dict(run_obj)
    )
    try:
        with redaction.hidden_from_logs(args.redactor):
            seen = provider.measure(metric.config, ref)
    except providers.ProviderError as exc:
        return Measurement(MeasurementPhase.ERROR, started, now, message=exc.report)
    if seen.pending:
        return Measurement(
            MeasurementPhase.RUNNING,
            started,
            None,
            message=seen.message,
            resume_at=now + RECHECK,
        )
    if seen.succeeded is not None:
        phase = MeasurementPhase.SUCCESSFUL if seen.succeeded else MeasurementPhase.FAILED
        return Measurement(phase, started, now, message=seen.message)
    return measurements.measure(
        metric, seen.value, started_at=started, finished_at=now, message=seen.message
    )


# -- ending -----------------------------------------------------------------------------------


def terminate(ctx: Context, state: S, rollout: dict[str, Any], kind: str | None = None) -> S:
    """End the active runs (of ``kind``, or all): Argo's terminate, Successful unless a metric
    already decided otherwise. Their pending timers find them completed and do nothing. An
    experiment step's Experiment is asked to terminate (``spec.terminate``, Argo's way): it
    ends, and removes its Pods."""
    for run in active(state, kind):
        if run.experiment:
            stop_experiment(ctx, state.namespace, run.name)
            ended = replace(
                run, terminate=True, phase=AnalysisPhase.SUCCESSFUL, message="Terminated"
            )
            state = with_run(state, ended)
            continue
        run_obj = ctx.kube.get(models.API_VERSION, model.RUN_PLURAL, state.namespace, run.name)
        metrics: tuple[model.Metric, ...] = ()
        if run_obj is not None:
            try:
                metrics = _metrics(ctx, state.namespace, run_obj, rollout, read_secrets=False)
            except InvalidSpec:
                metrics = ()
        result = decisions.evaluate_run(metrics, run.measurements, terminate=True)
        ended = replace(
            run,
            terminate=True,
            phase=result.phase or AnalysisPhase.SUCCESSFUL,
            message=result.message or "Run Terminated",
            due={},
        )
        if run_obj is not None:
            _mirror(ctx, state.namespace, ended, metrics)
        state = with_run(state, ended)
    return state


def stop_experiment(ctx: Context, namespace: str, name: str) -> None:
    """Ask the Experiment ``name`` to end (level-based: one that is gone or ended is left)."""
    with contextlib.suppress(NotFound):
        ctx.kube.merge_patch(
            models.API_VERSION,
            models.EXPERIMENT_PLURAL,
            namespace,
            name,
            {"spec": {"terminate": True}},
        )


def started_experiment(
    state: RolloutState,
    name: str,
    uid: str,
    step: int,
    now: float,
    backends: tuple[tuple[str, int], ...] = (),
) -> RolloutState:
    """``state`` waiting for the Experiment ``name`` (of ``uid``) of step ``step`` (kept as a
    run: its outcome is the step's, as an analysis step's), whose ``backends`` get a share of
    traffic while it runs."""
    if name in state.runs:
        return state
    run = Run(
        name=name,
        kind=STEP,
        step=step,
        started_at=now,
        experiment=True,
        uid=uid,
        backends=backends,
    )
    return with_run(state, run)


def experiment_ended(
    state: RolloutState, name: str, phase: AnalysisPhase, message: str
) -> Measured | None:
    """The rollout's run of Experiment ``name`` ended in ``phase`` (the experiment's own,
    read from its state); None when no such run waits."""
    run = runs_of(state).get(name)
    if run is None or not run.experiment or run.phase is not None:
        return None
    ended = replace(run, phase=phase, message=message)
    new = with_run(state, ended)
    note = f"experiment {name} {phase.value}" + (f": {message}" if message else "")
    return Measured(new, outcome_event(new, name), note)


def verdict(run: Run) -> str:
    """Why ``run`` ended, in one line: the deciding metric, its last value, the rule."""
    if run.phase is None:
        return ""
    worst = next(
        (
            (metric, ms[-1])
            for metric, ms in sorted(run.measurements.items())
            if ms and ms[-1].phase.value == run.phase.value
        ),
        None,
    )
    text = f"{'experiment' if run.experiment else 'analysis'} {run.name} {run.phase.value}"
    if worst is not None:
        metric, last = worst
        text += f": metric {metric} measured {last.value if last.value is not None else 'no value'}"
    if run.message:
        text += f" ({run.message})"
    return text


def summary(state: RolloutState) -> list[dict[str, Any]]:
    """``status.analysis`` of the Rollout: the runs of the current attempt."""
    return [
        {
            "name": run.name,
            "kind": run.kind,
            "phase": (run.phase or AnalysisPhase.RUNNING).value,
            "message": run.message,
        }
        for run in runs_of(state).values()
    ]
