"""measure: takes one measurement of one metric of an AnalysisRun, and decides.

A timer (or the Job a measurement waits on) asks for measurement N of a metric; the function
measures once through the metric's provider, records the measurement with the run in the
rollout's state, mirrors the AnalysisRun's status, and either schedules the next measurement or,
when the run is decided, replies with its outcome (``analysis.succeeded`` / ``failed`` /
``undecided``). A measurement that was already taken, or a run that ended, is a no-op.

An experiment step's run is the Experiment it started: ``experiment.completed`` (a hint from the
``experiment`` function) records the outcome the Experiment's own state holds, and replies with
the same outcome events.
"""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from shared import events, transitions
from shared.analysis import runs
from shared.context import Context
from shared.events import Ext, Type
from shared.experiments import runner
from shared.outcomes import Expect, Outcome, Turn

EXPECT = Expect(attempt=True)
COMPLETED = Expect()
"""The run names its attempt (a run of an older attempt is not in the state)."""


def handle(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    if event.get_type() == Type.EXPERIMENT_COMPLETED:
        return _experiment(event, ctx)
    run = events.ext(event, Ext.RUN)
    metric = events.ext(event, Ext.METRIC)
    index = events.ext_int(event, Ext.INDEX)
    poll = events.ext_int(event, Ext.POLL) or 0
    if not run or not metric or index is None:
        raise events.MalformedEvent(
            "measurement.requested needs the run, metric and index extensions"
        )

    def decide(turn: Turn) -> Outcome | None:
        measured = runs.take(ctx, turn.state, turn.rollout.obj, run, metric, index, poll)
        if measured is None:
            return None
        return Outcome(measured.state, reply=measured.outcome, note=measured.note)

    return transitions.run(ctx, event, decide, EXPECT)


def _experiment(event: CloudEvent, ctx: Context) -> CloudEvent | None:
    name = events.ext(event, Ext.RUN)
    if not name:
        raise events.MalformedEvent("experiment.completed needs the run extension")

    def decide(turn: Turn) -> Outcome | None:
        run = runs.runs_of(turn.state).get(name)
        if run is None or not run.experiment or run.phase is not None:
            return None
        ended = runner.outcome(ctx, turn.state.namespace, name, run.uid)
        if ended is None:
            return None
        phase, message = ended
        measured = runs.experiment_ended(turn.state, name, phase, message)
        if measured is None:
            return None
        return Outcome(measured.state, reply=measured.outcome, note=measured.note)

    return transitions.run(ctx, event, decide, COMPLETED)
