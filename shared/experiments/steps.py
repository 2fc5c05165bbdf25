"""The Experiment a Rollout's ``experiment`` step runs (Argo's experiment step).

Its templates are the stable revision's Pods (the primary's template: it mounts the copies of
the ConfigMaps the stable revision was validated with) or the canary's (the target's), with
each selector label of the target given the template's name as a suffix (``app: podinfo`` ->
``app: podinfo-baseline``), so no Service of the rollout ever sends them traffic. The
Experiment is owned by the Rollout, labelled with it and the step, and named after the
rollout, its canary revision, attempt and step (Argo's naming), at most 63 characters. A
template with a ``weight`` gets a Service on the rollout's port, which the router adds to the
routes beside the revisions' once the experiment runs (``runner.backends``). Pure: the caller
reads the Deployments and creates the object.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from typing import Any

from shared import models, workloads
from shared.analysis import arguments, runs
from shared.experiments.spec import DEFAULT_SCALE_DOWN_DELAY, MAX_NAME, STEP_LABEL
from shared.models import Experiment, InvalidSpec
from shared.objects import MANAGED_LABELS, owner_reference
from shared.state import RolloutState

Obj = dict[str, Any]


def name(state: RolloutState, index: int) -> str:
    """The Experiment of step ``index`` of the rollout's current attempt."""
    suffix = f"-{state.canary_revision[:7]}-{state.attempt}-{index}"
    return f"{state.name[: MAX_NAME - len(suffix)].rstrip('-')}{suffix}"


def _pod_template(source: Obj, target: Obj, template: str) -> tuple[Obj, dict[str, str]]:
    pod = copy.deepcopy(((source.get("spec") or {}).get("template")) or {})
    meta = pod.setdefault("metadata", {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != workloads.ROLE_LABEL}
    selector = {
        key: f"{value}-{template}"[:63].rstrip("-._")
        for key, value in workloads.selector_labels(target).items()
    }
    labels.update(selector)
    meta["labels"] = labels
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(workloads.REVISION_ANNOTATION, None)
    meta["annotations"] = annotations
    return pod, selector


def service_name(experiment: str, template: str) -> str:
    """The Service of a step's template (a DNS label: a long name is cut and keeps a hash)."""
    full = f"{experiment}-{template}"
    if len(full) <= 63:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:6]
    return f"{full[:56].rstrip('-')}-{digest}"


SEAL = "ferry.dev/step-seal"
"""On the Experiment of a step: an HMAC, under the installation's key, of the Rollout's uid and
the Experiment's name. Only an Experiment bearing it is the step's: its name and the Rollout's
uid can be known beforehand, the key cannot."""


def seal(key: bytes, rollout_uid: str, name: str) -> str:
    return hmac.new(key, f"{rollout_uid}/{name}".encode(), hashlib.sha256).hexdigest()[:32]


def backends(state: RolloutState, index: int, step: Experiment) -> tuple[tuple[str, int], ...]:
    """The Services of the step's templates with a share of traffic, and their weights."""
    made = name(state, index)
    return tuple((service_name(made, t.name), t.weight) for t in step.templates if t.weight)


def experiment(
    rollout: Obj,
    state: RolloutState,
    index: int,
    step: Experiment,
    *,
    stable: Obj | None,
    canary: Obj | None,
    progress_deadline: int,
    service: models.ServiceSpec,
    sealed: str = "",
) -> Obj:
    """The Experiment object of step ``index`` (``stable``: the primary Deployment, ``canary``:
    the target). A template with a Service (it asked, or it gets a share of traffic) serves on
    the rollout's port (``service``), so a route reaches it as it reaches the revisions.
    InvalidSpec when a revision it needs has no Deployment."""
    experiment_name = name(state, index)
    if canary is None:
        raise InvalidSpec(["the target Deployment is gone"])
    templates = []
    for t in step.templates:
        source = stable if t.spec_ref == "stable" else canary
        if source is None:
            raise InvalidSpec([f"template {t.name}: the stable revision has no Deployment yet"])
        pod, selector = _pod_template(source, canary, t.name)
        entry: Obj = {
            "name": t.name,
            "replicas": t.replicas,
            "selector": {"matchLabels": selector},
            "template": pod,
        }
        if t.service:
            entry["service"] = {
                "name": service_name(experiment_name, t.name),
                "port": service.port,
                "targetPort": service.target_port,
            }
        templates.append(entry)
    # the step is over once the experiment ends: its Pods go at once, unless they had traffic
    # (then Argo's 30 s: the route leaves them before their Service does)
    weighted = any(t.weight for t in step.templates)
    spec: Obj = {
        "templates": templates,
        "progressDeadlineSeconds": progress_deadline,
        "scaleDownDelaySeconds": DEFAULT_SCALE_DOWN_DELAY if weighted else 0,
    }
    if step.duration is not None:
        spec["duration"] = (
            f"{int(step.duration)}s"
            if float(step.duration).is_integer()
            else f"{round(step.duration * 1000)}ms"
        )
    if step.analyses:
        spec["analyses"] = [_analysis(a, rollout) for a in step.analyses]
    return {
        "apiVersion": models.API_VERSION,
        "kind": models.EXPERIMENT_KIND,
        "metadata": {
            "name": experiment_name,
            "namespace": state.namespace,
            "labels": {
                **MANAGED_LABELS,
                runs.ROLLOUT_LABEL: state.name,
                STEP_LABEL: str(index),
            },
            "annotations": {SEAL: sealed},
            "ownerReferences": [owner_reference(rollout)],
        },
        "spec": spec,
    }


def _analysis(analysis: models.ExperimentAnalysis, rollout: Obj) -> Obj:
    out: Obj = {"name": analysis.name, "templateName": analysis.template.name}
    if analysis.template.cluster_scope:
        out["clusterScope"] = True
    if analysis.required:
        out["requiredForCompletion"] = True
    if analysis.args:
        out["args"] = [_arg(a, rollout) for a in analysis.args]
    return out


def _arg(arg: models.AnalysisArg, rollout: Obj) -> Obj:
    """An argument as the Experiment takes it: a ``fieldRef`` is the Rollout's, read now."""
    if arg.field_path is not None:
        try:
            value = arguments.field_value(rollout, arg.field_path)
        except (LookupError, ValueError) as exc:
            raise InvalidSpec([f"argument {arg.name!r}: {exc}"]) from None
        return {"name": arg.name, "value": value}
    return {"name": arg.name, "value": arg.value or ""}


def owned_by(obj: Obj, rollout: Obj) -> bool:
    """Whether ``obj`` (an Experiment found under the step's name) is this Rollout's."""
    uid = (rollout.get("metadata") or {}).get("uid")
    return any(
        o.get("uid") == uid and o.get("controller")
        for o in (obj.get("metadata") or {}).get("ownerReferences") or []
    )


def the_steps(obj: Obj, rollout: Obj, sealed: str) -> bool:
    """Whether ``obj`` is the Experiment the step made (an earlier delivery's): this Rollout's,
    bearing the step's seal."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    found = annotations.get(SEAL)
    return (
        owned_by(obj, rollout)
        and isinstance(found, str)
        and bool(sealed)
        and hmac.compare_digest(found, sealed)
    )
