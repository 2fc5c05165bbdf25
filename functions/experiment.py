"""experiment: one look at an Experiment (Argo Rollouts' ``Experiment``).

An Experiment or one of its Deployments changed (``experiment.changed``, also sent by the
tick), or one of its timers came (``experiment.elapsed``: its progress deadline, the end of its
duration, the removal of its Pods, a measurement of one of its analyses). Argo's lifecycle:
``Pending`` while the templates' Deployments scale up (none available within
``progressDeadlineSeconds``: ``Failed``); ``Running`` once all are available, each analysis
an AnalysisRun; ``Successful`` once ``duration`` passed and the analyses marked
``requiredForCompletion`` completed (without a duration: once those completed; with neither:
when ``spec.terminate`` is set); ``Failed``, ``Error`` or ``Inconclusive`` as soon as an
analysis is. The machinery (commit, the objects, the status, telling the Rollout of a step) is
``shared.experiments.runner``'s; this module holds the decision.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared.analysis import runs
from shared.analysis.model import AnalysisPhase
from shared.context import Context
from shared.experiments import runner, stacks
from shared.experiments.spec import LABEL, ExperimentSpec, Phase, parse, with_hashes
from shared.models import InvalidSpec
from shared.state import ExperimentState

Obj = dict[str, object]


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    return runner.run(ctx, event, _decide)


def _decide(
    ctx: Context, state: ExperimentState, obj: Obj, wanted: runner.Measurement | None
) -> tuple[ExperimentState, str]:
    now = ctx.now()
    if state.phase and Phase(state.phase).completed:
        return state, ""
    try:
        spec = parse(obj)
    except InvalidSpec as exc:
        message = f"invalid spec: {exc}"
        return runner.ended(ctx, state, obj, Phase.ERROR, message, now, None), message
    notes: list[str] = []
    if not state.phase:
        state = state.with_(
            phase=Phase.PENDING.value,
            started_at=now,
            hashes=stacks.hashes(spec),
            message="waiting for every template to be available",
        )
        ctx.timers.schedule(now + spec.progress_deadline, runner.timer(state, "deadline"))
        notes.append(f"started: {', '.join(t.name for t in spec.templates)}")
    if wanted is not None:
        measured = runs.take(ctx, state, obj, wanted.run, wanted.metric, wanted.index, wanted.poll)
        if measured is not None:
            state = measured.state
            notes.append(measured.note)
    failed = _failure(state, spec)
    if failed is not None:  # also when it is being terminated: what was found stands
        phase, message = failed
        return runner.ended(ctx, state, obj, phase, message, now, spec), message
    if spec.terminate:
        return runner.ended(
            ctx, state, obj, Phase.SUCCESSFUL, "terminated", now, spec
        ), "terminated"
    if state.phase == Phase.PENDING:
        deployments = runner.deployments(ctx, spec)
        taken = runner.foreign(ctx, spec, state.uid, deployments)
        if taken:
            message = f"{', '.join(taken)} exists and is not this experiment's; rename the template"
            return runner.ended(ctx, state, obj, Phase.ERROR, message, now, spec), message
        waiting = [t.name for t in spec.templates if not stacks.available(deployments[t.name])]
        if waiting:
            if now >= state.started_at + spec.progress_deadline:
                message = (
                    f"template {', '.join(waiting)} was not available within "
                    f"{spec.progress_deadline}s (progressDeadlineSeconds)"
                )
                return runner.ended(ctx, state, obj, Phase.FAILED, message, now, spec), message
            _rearm(ctx, state, spec, now)
            return state, "; ".join(notes)
        state = _running(ctx, state, obj, spec, now)
        notes.append(state.message)
        failed = _failure(state, spec)  # an analysis that could not start
        if failed is not None:
            phase, message = failed
            return runner.ended(ctx, state, obj, phase, message, now, spec), message
    done = _success(state, spec, now)
    if done is not None:
        return runner.ended(ctx, state, obj, Phase.SUCCESSFUL, done, now, spec), done
    _rearm(ctx, state, spec, now)
    return state, "; ".join(n for n in notes if n)


def _running(
    ctx: Context, state: ExperimentState, obj: Obj, spec: ExperimentSpec, now: float
) -> ExperimentState:
    """Every template is available: the analyses start, the duration's timer is set."""
    state = state.with_(phase=Phase.RUNNING.value, available_at=now)
    for analysis in spec.analyses:
        name = runner.run_name(spec.name, analysis.name)
        try:
            state = runs.start(
                ctx,
                state,
                obj,
                kind=runs.STEP,
                step=0,
                templates=(analysis.template,),
                args=with_hashes(analysis.args, state.hashes),
                name=name,
                labels={LABEL: spec.name},
            )
        except InvalidSpec as exc:
            failed = runs.Run(
                name=name,
                kind=runs.STEP,
                step=0,
                started_at=now,
                phase=AnalysisPhase.ERROR,
                message=str(exc),
            )
            state = runs.with_run(state, failed)
    if spec.duration is not None:
        ctx.timers.schedule(now + spec.duration, runner.timer(state, "duration"))
    return state.with_(message=f"running: every template available; {_until(spec)}")


GRACE = 2.0
"""Seconds past its time after which a measurement's timer is taken for lost."""


def _rearm(ctx: Context, state: ExperimentState, spec: ExperimentSpec, now: float) -> None:
    """Set again the timers the experiment waits for (level-based: a timer set twice is one),
    so one that fired early (set by a look that lost the race to commit) or was lost fires
    when it should."""
    if state.phase == Phase.PENDING:
        deadline = state.started_at + spec.progress_deadline
        if now < deadline:  # once past, its look came (or the tick's will)
            ctx.timers.schedule(deadline, runner.timer(state, "deadline"))
    elif spec.duration is not None and now < state.available_at + spec.duration:
        ctx.timers.schedule(state.available_at + spec.duration, runner.timer(state, "duration"))
    for run in runs.active(state):
        for metric, (index, at, poll) in run.due.items():
            if now >= at + GRACE:
                ctx.timers.schedule(
                    now, runs.measurement_event(state, run.name, metric, index, poll)
                )


def _until(spec: ExperimentSpec) -> str:
    if spec.duration is not None:
        return f"for {spec.duration:g}s"
    if spec.required:
        return f"until {', '.join(spec.required)} complete"
    return "until terminated"


def _by_analysis(state: ExperimentState, spec: ExperimentSpec) -> dict[str, runs.Run | None]:
    found = runs.runs_of(state)
    return {a.name: found.get(runner.run_name(spec.name, a.name)) for a in spec.analyses}


def _failure(state: ExperimentState, spec: ExperimentSpec) -> tuple[Phase, str] | None:
    """An analysis that ended Error, Failed or Inconclusive ends the experiment so."""
    by_analysis = _by_analysis(state, spec)
    for phase in (AnalysisPhase.ERROR, AnalysisPhase.FAILED, AnalysisPhase.INCONCLUSIVE):
        for name, run in by_analysis.items():
            if run is not None and run.phase == phase and not run.terminate:
                return phase, f"analysis {name}: {runs.verdict(run)}"
    return None


def _success(state: ExperimentState, spec: ExperimentSpec, now: float) -> str | None:
    """Why a running experiment ends Successful now, if it does."""
    if state.phase != Phase.RUNNING:
        return None
    by_analysis = _by_analysis(state, spec)
    required = [by_analysis.get(name) for name in spec.required]
    required_done = all(r is not None and r.phase is not None for r in required)
    if spec.duration is not None:
        if now >= state.available_at + spec.duration and required_done:
            return f"ran {spec.duration:g}s; every analysis passed"
        return None
    if spec.required and required_done:
        return f"{', '.join(spec.required)} completed"
    return None
