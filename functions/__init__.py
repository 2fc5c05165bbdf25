"""Ferry's functions: one module per rollout transition, each handling one CloudEvent.

A function only decides and applies one transition; all plumbing (HTTP, CloudEvents, Redis,
Kubernetes) comes from ``shared``. Functions never import each other or ``local``.

``ROUTES`` is the table of which function handles which event types: the Knative Services and
Triggers in ``knative/`` are generated from it (``ferry manifests``; a test fails when the files
checked in drift from it). Every transition hands ``shared.transitions.run`` its guard and its
decision, so a module here reads as that and nothing else.
"""

from __future__ import annotations

import importlib

from shared.endpoint import Handler
from shared.events import Type

ROUTES: dict[str, tuple[Type, ...]] = {
    "detect": (
        Type.RESOURCE_ADDED,
        Type.RESOURCE_UPDATED,
        Type.RESOURCE_DELETED,
        Type.REFERENCE_ADDED,
        Type.REFERENCE_UPDATED,
        Type.REFERENCE_DELETED,
    ),
    "initialize": (Type.ROLLOUT_CHANGED,),
    "start": (Type.REVISION_DETECTED, Type.RETRY_REQUESTED, Type.CANARY_EMPTIED),
    "advance": (
        Type.CANARY_SCALED,
        Type.STEP_COMPLETED,
        Type.PAUSE_EXPIRED,
        Type.ANALYSIS_SUCCEEDED,
        Type.PROMOTION_REQUESTED,
    ),
    "step": (Type.STEP_STARTED,),
    "measure": (Type.MEASUREMENT_REQUESTED, Type.EXPERIMENT_COMPLETED),
    "hold": (Type.ANALYSIS_UNDECIDED, Type.PAUSE_REQUESTED, Type.RESUME_REQUESTED),
    "restart": (Type.RESTART_REQUESTED,),
    "promote": (Type.PROMOTION_STARTED,),
    "finalize": (Type.PRIMARY_UPDATED,),
    "abort": (
        Type.DEADLINE_EXPIRED,
        Type.ANALYSIS_FAILED,
        Type.ABORT_REQUESTED,
        Type.GATE_FAILED,
    ),
    "scaledown": (Type.SCALEDOWN_ELAPSED,),
    "experiment": (Type.EXPERIMENT_CHANGED, Type.EXPERIMENT_ELAPSED),
    "cleanup": (Type.ROLLOUT_DELETED,),
    "reconcile": (Type.TICK, Type.DRIFT_DETECTED, Type.EXPERIMENT_STARTED),
    "notify": (Type.MILESTONE_REACHED,),
    "load": (Type.LOAD_REQUESTED,),
    "trigger": (
        Type.WEBHOOK_VERIFIED,
        Type.GITHUB_PACKAGE,
        Type.GITHUB_DISPATCH,
        Type.ACTION_REQUESTED,
    ),
    "gate": (
        Type.GATE_POLLED,
        Type.GATE_CONFIRMED,
        Type.ROLLOUT_PROMOTED,
        Type.ROLLOUT_ABORTED,
    ),
}
"""Function module name -> the CloudEvent types its Triggers deliver to it."""

SERVICE_PREFIX = "ferry-"
"""Knative Service of function ``x`` is ``ferry-x``."""

DEAD_LETTER = "deadletter"
"""The function that receives what the Broker gave up on (a delivery target, not a Trigger)."""


def handler(name: str) -> Handler:
    """The ``handle`` function of function module ``name``; ValueError for an unknown name."""
    if name not in ROUTES and name != DEAD_LETTER:
        known = ", ".join(sorted([*ROUTES, DEAD_LETTER]))
        raise ValueError(f"unknown function {name!r} (known: {known})")
    module = importlib.import_module(f"functions.{name}")
    handle: Handler = module.handle
    return handle
