"""What load a rollout wants now (``spec.loadTest`` and steps' ``load``), decided from its
committed state and spec; what ``functions.load`` generates and the transitions wake it for.

Load runs while the canary is in its steps: from the first step on (``spec.loadTest``), a
step's ``load`` replacing it from that step on (``rps: 0`` stops it); through pauses of a step,
analyses and the gates met between steps (Flagger keeps its load tester running while a
promotion waits for confirmation); not while a person holds the rollout paused (unless
``stopOnPause: false``), and never once it is promoted, aborted or gone. Pure: reads nothing,
writes nothing. The load goes to ``url``, or to the Pods behind a Service of the namespace:
``service``, else :func:`default_service`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from shared import models
from shared.rollouts import Rollout
from shared.state import RolloutState, Stage

RUNNING = frozenset({Stage.STEPPING, Stage.ANALYZING, Stage.PAUSED, Stage.GATED})
"""Stages in which the canary's steps run: the only ones with load."""
BEFORE_STEPS = ("confirm-rollout", "pre-rollout")
"""Gates met before the canary's first step (no load yet)."""


@dataclass(frozen=True)
class Plan:
    """The load wanted now: ``load`` as written at ``where``; ``run`` names this run of it
    (new for another revision, attempt, definition or place: its totals start again)."""

    load: models.LoadTest
    where: str
    run: str


def configured(spec: models.RolloutSpec) -> bool:
    """Whether the spec asks for load anywhere."""
    return spec.load_test is not None or any(isinstance(s, models.Load) for s in spec.steps)


def default_service(rollout: Rollout) -> str:
    """Where load goes when the spec names neither a URL nor a Service: the canary's Service,
    or the apex when one Service is in front of both revisions (without traffic routing: the
    canary gets its share by its replicas, as users' requests do)."""
    return rollout.spec.service.name if rollout.shared_pods else rollout.spec.canary_service


def effective(spec: models.RolloutSpec, step: int) -> tuple[models.LoadTest | None, str]:
    """The load in force at step ``step`` and where it is written."""
    chosen, where = spec.load_test, "spec.loadTest"
    for i, item in enumerate(spec.steps[: step + 1]):
        if isinstance(item, models.Load):
            chosen, where = item.load, spec.step_where(i)
    return chosen, where


def mark(state: RolloutState) -> tuple[object, ...]:
    """What of a state the load depends on: when it changes, the load is decided again."""
    return (
        state.uid,
        state.stage,
        state.step,
        state.attempt,
        state.canary_revision,
        state.paused_by,
        state.gate,
    )


def wanted(
    state: RolloutState, spec: models.RolloutSpec, progress: Mapping[str, str], now: float
) -> Plan | str:
    """The load ``state`` wants (a :class:`Plan`), or why there is none. ``progress``: the
    load's progress as last written (a run's ``duration`` counts from its ``started``)."""
    if not state.exists:
        return "the rollout is gone"
    if state.stage not in RUNNING:
        return {
            Stage.PROMOTING: "the canary is being promoted",
            Stage.HEALTHY: "the rollout is healthy",
            Stage.ABORTED: "the rollout was aborted",
            Stage.SCALING: "the canary is not ready yet",
        }.get(state.stage, f"the rollout is {state.stage.value}")
    if state.stage == Stage.GATED and state.gate in BEFORE_STEPS:
        return f"the rollout waits at gate {state.gate}"
    load, where = effective(spec, state.step)
    if load is None:
        return "no load at this step"
    if load.rps == 0:
        return f"{where} stops it (rps 0)"
    if state.paused_by and load.stop_on_pause:
        return f"paused by {state.paused_by}"
    plan = Plan(load, where, run_id(state, load, where))
    started = float(progress.get("started") or 0) if progress.get("run") == plan.run else 0.0
    if load.duration is not None and started and now - started >= load.duration:
        return f"its duration of {load.duration:g}s passed"
    return plan


def run_id(state: RolloutState, load: models.LoadTest, where: str) -> str:
    """A run's name: the rollout, revision and attempt, and the load and where it is written."""
    text = f"{state.uid}\n{state.canary_revision}\n{state.attempt}\n{where}\n{load!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe(load: models.LoadTest, target: str) -> str:
    """``50 rps (8 at once) to http://...`` (no header values: they may be secrets)."""
    text = f"{load.rps} rps ({load.concurrency} at once) to {target}"
    if load.headers:
        text += f" with {', '.join(name for name, _ in load.headers)}"
    if load.duration is not None:
        text += f" for {load.duration:g}s"
    return text
