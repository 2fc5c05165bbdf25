"""The workload model: the objects Ferry derives from the user's Deployment, and their health.

The user's Deployment (the *target*, owned by Git) runs the canary; Ferry keeps a copy,
``<target>-primary``, that serves the stable revision, and three Services: ``<service>`` and
``<service>-primary`` select the primary's Pods, ``<service>-canary`` the target's. The primary's
selector labels are the target's with ``-primary`` appended to each value, so the two sets of
Pods never overlap. When one Service must be in front of both revisions (without a traffic
router, weights are replica shares; Istio's subset-level splitting picks the Pods of each
revision behind one host) the primary's Pods carry the target's labels plus ``ferry.dev/role:
primary`` instead, the apex selects both sets, and there is no canary Service. A *revision* is
a hash of the target's pod template. Pure functions over dicts: no I/O here.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.models import RolloutSpec
from shared.objects import MANAGED_LABELS, owner_reference

Obj = dict[str, Any]

REVISION_ANNOTATION = "ferry.dev/revision"
"""On the primary's pod template: the revision it runs."""
RESTART_ANNOTATION = "ferry.dev/restartedAt"
"""On the primary's pod template: when a person last asked to restart the stable Pods (RFC 3339
with milliseconds, :func:`restart_stamp`). Ferry's own key, not
``kubectl.kubernetes.io/restartedAt``: a ``kubectl rollout restart`` of the primary by hand is
never undone by Ferry's level."""


def revision(target: Obj, configs: Mapping[str, str] | None = None) -> str:
    """The revision of a Deployment: a short hash of its pod template and, when it references
    any, of the digests of its ConfigMaps' and Secrets' data (``configs``, by ``Kind/name``)."""
    template = (target.get("spec") or {}).get("template") or {}
    content: Any = {"template": template, "configs": dict(configs)} if configs else template
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def selector_labels(target: Obj) -> dict[str, str]:
    labels: dict[str, str] = ((target.get("spec") or {}).get("selector") or {}).get(
        "matchLabels"
    ) or {}
    return dict(labels)


ROLE_LABEL = "ferry.dev/role"
"""Without a traffic router: on the primary's Pods, beside the target's own labels."""


def primary_labels(target: Obj, *, shared: bool) -> dict[str, str]:
    """The primary's selector labels. With a traffic router, the target's with ``-primary``
    appended to each value, so the two sets of Pods never overlap; when one Service is in front
    of both revisions (``shared``: replica-count splitting, Istio subsets), the target's plus
    ``ferry.dev/role: primary``, so a Service selecting the target's labels reaches the Pods of
    both revisions."""
    if shared:
        return {**selector_labels(target), ROLE_LABEL: "primary"}
    return {key: f"{value}-primary" for key, value in selector_labels(target).items()}


def primary(
    rollout: RolloutSpec,
    target: Obj,
    owner: Obj,
    replicas: int,
    *,
    shared: bool,
    template: Obj,
    revision: str,
    restarted: str | None = None,
) -> Obj:
    """The primary Deployment running ``template`` (the target's, its ConfigMaps and Secrets
    replaced by their copies) at ``revision``, its pod template carrying the restart time
    ``restarted`` (None: it names none). A restart time in the target's own template is not
    copied: only a person's restart, from the state, sets it (else the level that writes it
    and the one that copies the target would undo each other)."""
    spec = target.get("spec") or {}
    template = copy.deepcopy(template)
    meta = template.setdefault("metadata", {})
    labels = dict(meta.get("labels") or {})
    labels.update(primary_labels(target, shared=shared))
    meta["labels"] = labels
    annotations = meta.setdefault("annotations", {})
    annotations.pop(RESTART_ANNOTATION, None)
    if restarted is not None:
        annotations[RESTART_ANNOTATION] = restarted
    annotations[REVISION_ANNOTATION] = revision
    desired_spec: Obj = {
        "replicas": replicas,
        "selector": {"matchLabels": primary_labels(target, shared=shared)},
        "template": template,
    }
    for kept in ("strategy", "minReadySeconds"):
        if kept in spec:
            desired_spec[kept] = copy.deepcopy(spec[kept])
    # its old ReplicaSets mount copies of ConfigMaps and Secrets kept for as many revisions
    desired_spec["revisionHistoryLimit"] = rollout.revision_history_limit
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": rollout.primary,
            "namespace": rollout.namespace,
            "labels": {**MANAGED_LABELS, **primary_labels(target, shared=shared)},
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": desired_spec,
    }


def restarted_at(primary_obj: Obj | None) -> str | None:
    """The restart time the primary's pod template carries (None: none)."""
    annotations = (
        (((primary_obj or {}).get("spec") or {}).get("template") or {}).get("metadata") or {}
    ).get("annotations") or {}
    value = annotations.get(RESTART_ANNOTATION)
    return str(value) if value else None


def restart_stamp(epoch: float) -> str:
    """The restart time ``epoch`` as the primary's pod template carries it: RFC 3339 with
    milliseconds, so two restarts within one second are two values (an equal value would
    replace no Pod)."""
    whole, millis = divmod(round(epoch * 1000), 1000)
    second = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{second}.{millis:03d}Z"


def unavailable_at_once(deployment: Obj) -> int:
    """How many of the Deployment's Pods its controller may take out of service at once while
    it replaces them: all of them with ``Recreate``; else ``maxUnavailable`` (default 25 %,
    a percentage rounded down), 1 when it and ``maxSurge`` (rounded up) both come to 0, as
    Kubernetes resolves them."""
    spec = deployment.get("spec") or {}
    want = replicas(deployment)
    strategy = spec.get("strategy") or {}
    if strategy.get("type", "RollingUpdate") == "Recreate":
        return want
    rolling = strategy.get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge", "25%"), want, round_up=True)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), want, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return min(unavailable, want)


def _scaled(value: Any, total: int, *, round_up: bool) -> int:
    """An int-or-percent (``2``, ``"25%"``) in Pods of ``total``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1]) * total / 100
            return math.ceil(share) if round_up else math.floor(share)
        return int(text)
    except ValueError:
        return 0


def restart_patch(stamp: str) -> Obj:
    """The merge patch that gives the primary's pod template the restart time ``stamp``: its
    Deployment controller then replaces every Pod (a rolling update within its maxSurge and
    maxUnavailable), the revision it runs unchanged."""
    return {"spec": {"template": {"metadata": {"annotations": {RESTART_ANNOTATION: stamp}}}}}


def primary_revision(primary_obj: Obj | None) -> str | None:
    if primary_obj is None:
        return None
    annotations = (
        ((primary_obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
    ).get("annotations") or {}
    value = annotations.get(REVISION_ANNOTATION)
    return str(value) if value else None


def services(
    rollout: RolloutSpec, target: Obj, owner: Obj, *, shared: bool, apex: bool = True
) -> list[Obj]:
    """``<service>`` and ``<service>-primary`` (primary Pods), ``<service>-canary`` (target
    Pods; blue/green: the preview Service); when one Service is in front of both revisions
    (``shared``), the apex selects the Pods of both and there is no canary Service. The apex
    Service carries no owner reference: it keeps serving after the Rollout is deleted (then
    re-pointed at the target). Without ``apex``, the router keeps the apex's selector (blue/green
    without a traffic router), so it is left out."""
    port = {
        "name": "http",
        "port": rollout.service.port,
        "targetPort": rollout.service.target_port,
        "protocol": "TCP",
    }

    def service(name: str, selector: dict[str, str], owned: bool) -> Obj:
        meta: Obj = {"name": name, "namespace": rollout.namespace, "labels": MANAGED_LABELS}
        if owned:
            meta["ownerReferences"] = [owner_reference(owner)]
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"type": "ClusterIP", "selector": selector, "ports": [port]},
        }

    stable = primary_labels(target, shared=shared)
    if not apex:
        blue_green = rollout.blue_green
        owned = blue_green is None or not blue_green.preview_named
        return [
            service(rollout.primary_service, stable, owned=True),
            service(rollout.canary_service, selector_labels(target), owned=owned),
        ]
    if shared:
        # The apex selects both revisions, and no Service can select the canary's Pods alone
        # (they carry only the user's labels, which the primary's Pods share).
        return [
            service(rollout.service.name, selector_labels(target), owned=False),
            service(rollout.primary_service, stable, owned=True),
        ]
    return [
        service(rollout.service.name, stable, owned=False),
        service(rollout.primary_service, stable, owned=True),
        service(rollout.canary_service, selector_labels(target), owned=True),
    ]


def apex_for_target(rollout: RolloutSpec, target: Obj) -> Obj:
    """The apex Service re-pointed at the target's Pods (when Ferry lets go of a target)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": rollout.service.name, "namespace": rollout.namespace},
        "spec": {"selector": selector_labels(target)},
    }


def replicas(deployment: Obj | None) -> int:
    if deployment is None:
        return 0
    return int((deployment.get("spec") or {}).get("replicas", 1))


def stable_replicas(rollout: RolloutSpec, target: Obj | None) -> int:
    """The replicas the primary is created with: ``spec.replicas`` when set, else as many as
    the target runs, at least 1 (a target scaled to 0 still gets a stable Pod)."""
    if rollout.replicas is not None:
        return rollout.replicas
    return max(replicas(target), 1)


def canary_ready(target: Obj | None, *, by_replicas: bool) -> bool:
    """The canary finished scaling to the size it was given: with a traffic router at least one
    replica (it was scaled to the stable size before any traffic; a target still at 0 was read
    before that scale landed), without one any size (at weight 0 it runs none)."""
    return is_ready(target, replicas_at_least=0 if by_replicas else 1)


def is_empty(deployment: Obj | None) -> bool:
    """The Deployment was scaled to zero and its controller saw it: no Pod of it is left."""
    if deployment is None:
        return True
    meta, spec, status = (
        deployment.get("metadata") or {},
        deployment.get("spec") or {},
        deployment.get("status") or {},
    )
    return bool(
        int(spec.get("replicas", 1)) == 0
        and status.get("observedGeneration", 0) >= meta.get("generation", 1)
        and not status.get("replicas")
    )


def is_ready(deployment: Obj | None, *, replicas_at_least: int = 1) -> bool:
    """The Deployment finished rolling out its current template and all its replicas are
    available (and it has at least ``replicas_at_least``)."""
    if deployment is None:
        return False
    meta, spec, status = (
        deployment.get("metadata") or {},
        deployment.get("spec") or {},
        deployment.get("status") or {},
    )
    want = int(spec.get("replicas", 1))
    return bool(
        want >= replicas_at_least
        and status.get("observedGeneration", 0) >= meta.get("generation", 1)
        and status.get("updatedReplicas", 0) == want
        and status.get("availableReplicas", 0) == want
        and status.get("replicas", 0) == want
    )
