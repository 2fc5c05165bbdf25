"""step: performs canary step N: sets a traffic weight or route, pauses, or starts an analysis.

``setWeight`` commits the weight, ``setHeaderRoute``, ``setCookieRoute`` and ``setMirrorRoute``
the set of routes in effect, and each completes at once (the router is brought to the committed
state after the commit, ``shared.levels``). ``pause: {duration}`` schedules a timer
(``pause.expired``) and waits; the wall-clock end is kept in state, so a restart neither
shortens nor lengthens it. ``pause: {}`` waits for a promote. ``analysis`` creates the step's
AnalysisRun and waits for its outcome (a template that cannot be used ends the run in Error,
which aborts); ``load`` completes at once (the load generator, woken by the commit, changes
the load from here on: ``shared.loads``); ``experiment`` creates the step's Experiment and
waits for it the same way (its outcome is the step's). Blue/green's switch (its
``setWeight: 100``) waits until the preview runs at full size and is ready. Nothing starts
while a person holds the rollout paused.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import facts, models, moves, transitions
from shared.analysis import runs
from shared.context import Context
from shared.events import Type
from shared.experiments import steps
from shared.outcomes import Expect, Outcome, Turn
from shared.state import RolloutState, Stage

EXPECT = Expect(stages=frozenset({Stage.STEPPING}), attempt=True, step=True, unpaused=True)


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    return transitions.run(ctx, event, _decide, EXPECT)


def _decide(turn: Turn) -> Outcome | None:
    ctx, state, spec = turn.ctx, turn.state, turn.spec
    index = state.step
    if index >= len(spec.steps):
        return None
    step = spec.steps[index]
    label = spec.step_label(index)
    done = facts.of_attempt(state, Type.STEP_COMPLETED, step=index)
    if isinstance(step, models.SetWeight):
        if not moves.switchable(ctx, turn.rollout, index):
            return None  # the preview grows to full size first; detect starts the step again
        return moves.set_weight(ctx, state, turn.rollout, index)
    if isinstance(step, models.ROUTE_STEPS):
        routes = models.routes_after(spec.steps, state.routes, index)
        kind = models.step_kind(step).removeprefix("set").removesuffix("Route").lower()
        did = "set" if step.match else "removed"
        message = f"{label}: {kind} route {step.name} {did}"
        return Outcome(state.with_(routes=routes, message=message), reply=done, note=message)
    if isinstance(step, models.Load):
        message = f"{label}: load {step.load.rps} rps" if step.load.rps else f"{label}: no load"
        return Outcome(state.with_(message=message), reply=done, note=message)
    now = ctx.now()
    if isinstance(step, models.Experiment):
        return _experiment(turn, step, label)
    if isinstance(step, models.Analysis):
        name = runs.run_name(state, runs.STEP, index)
        try:
            started = runs.start(
                ctx,
                state,
                turn.rollout.obj,
                kind=runs.STEP,
                step=index,
                templates=step.templates,
                args=step.args,
            )
        except models.InvalidSpec as exc:
            return _not_started(state, f"{label}: analysis", name, exc, "AnalysisInvalid", now)
        message = f"{label}: analysis {name} running"
        return Outcome(
            started.to(Stage.ANALYZING, now, reason="AnalysisRunning", message=message),
            note=message,
        )
    if step.duration is None:
        message = f"{label}: paused until promoted"
        return Outcome(state.paused(now, "PausedIndefinitely", message), note=message)
    if step.duration <= 0:
        return Outcome(
            state.with_(message=f"{label}: pause of 0s"), reply=done, note=f"{label}: pause of 0s"
        )
    until = now + step.duration
    ctx.timers.schedule(until, facts.of_attempt(state, Type.PAUSE_EXPIRED, step=index))
    message = f"{label}: paused for {step.duration:g}s"
    return Outcome(state.paused(now, "PausedByStep", message, until=until), note=message)


def _experiment(turn: Turn, step: models.Experiment, label: str) -> Outcome:
    """Create the step's Experiment (level-based: this rollout's is kept) and wait for it."""
    ctx, state, index, now = turn.ctx, turn.state, turn.state.step, turn.ctx.now()
    name = steps.name(state, index)
    rollout = turn.rollout
    sealed = steps.seal(ctx.store.config_key(), rollout.uid, name)
    try:
        obj = steps.experiment(
            rollout.obj,
            state,
            index,
            step,
            stable=ctx.kube.deployment(state.namespace, rollout.spec.primary),
            canary=ctx.kube.deployment(state.namespace, rollout.spec.target),
            progress_deadline=rollout.spec.progress_deadline,
            service=rollout.spec.service,
            sealed=sealed,
        )
        found = ctx.kube.get(models.API_VERSION, models.EXPERIMENT_PLURAL, state.namespace, name)
        if found is None:
            found = ctx.kube.create(obj)
        elif not steps.the_steps(found, rollout.obj, sealed):
            # only the one this step made (an earlier delivery's) is adopted
            raise models.InvalidSpec(
                [f"an Experiment named {name} exists and is not the one this step makes"]
            )
    except models.InvalidSpec as exc:
        return _not_started(state, f"{label}: experiment", name, exc, "ExperimentInvalid", now)
    message = f"{label}: experiment {name} running"
    return Outcome(
        runs.started_experiment(
            state,
            name,
            str(found["metadata"]["uid"]),
            index,
            now,
            steps.backends(state, index, step),
        ).to(Stage.ANALYZING, now, reason="ExperimentRunning", message=message),
        note=message,
    )


def _not_started(
    state: RolloutState, what: str, name: str, exc: models.InvalidSpec, reason: str, now: float
) -> Outcome:
    """The step's run ``name`` could not start: it ends in Error, which aborts."""
    message = f"{what} {name} cannot start: {exc}"
    failed = runs.failed_to_start(state, name, runs.STEP, state.step, now, str(exc))
    return Outcome(
        failed.to(Stage.ANALYZING, now, reason=reason, message=message),
        reply=runs.outcome_event(failed, name),
        note=message,
    )
