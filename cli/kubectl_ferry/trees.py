"""The tree of ``kubectl ferry get rollout``: a Rollout, its revisions, the ReplicaSets and Pods
that run each, and the AnalysisRuns that judged it; as data (``-o json|yaml``) and as text.

In Ferry's model (``shared.workloads``) a Rollout's Pods belong to two Deployments: the
*primary* (``<target>-primary``, Ferry's) runs the stable revision, and the *target* (the
user's Deployment, Git's) runs the canary. Their ReplicaSets are grouped by the revision they
run: a primary ReplicaSet's pod template names it (annotation ``ferry.dev/revision``); the
target's current ReplicaSet runs the target's revision (what Ferry computes, or published as
``status.currentPodHash``), an older one the hash of its own template. An AnalysisRun belongs to
the revision its name carries (``<rollout>-<revision[:7]>-<attempt>-<step>``).

The data (:func:`build`) is the documented, stable shape of ``-o json`` (``kind: RolloutTree``,
``version: 1``; fields are only ever added)::

    rollout        the Rollout object as the API server returned it
    summary        name, namespace, status (the phase), icon, message, strategy (Canary or
                   BlueGreen), step ("2/4"), setWeight, stableRevision, canaryRevision,
                   activeRevision, previewRevision (blue/green), restartedAt,
                   images: [{image, tags}], replicas: {desired, current, updated, ready,
                   available}
    revisions      newest first: {revision, tags (stable, canary, active, preview), images,
                   replicas, ready, available, replicaSets, analysisRuns}
      replicaSets  {name, deployment, role (primary or target), current, status (Healthy,
                   Progressing, ScaledDown, ReplicaFailure), icon, replicas, ready, available,
                   images, tags, createdAt, pods}
        pods       {name, uid, status (Running, Pending, ContainerCreating, CrashLoopBackOff,
                   Terminating, ...), icon, ready ("1/1"), restarts, images, createdAt}
      analysisRuns {name, status (its phase), icon, successful, failed, inconclusive, error,
                   createdAt, message, metrics: [{name, status, icon, successful, failed,
                   inconclusive, error, count, last: {phase, value, startedAt,
                   finishedAt, message}}]}
    warnings       what could not be read (e.g. forbidden to list Pods)

``icon`` fields name Argo Rollouts' icons (ok, bad, progressing, waiting, warning, unknown,
paused, neutral); ``drawing`` draws the tree as text with them, or with plain ASCII marks. Pure:
no I/O, no clock reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from shared import models, workloads

Obj = dict[str, Any]

KIND, VERSION = "RolloutTree", 1
HASH_LABEL = "pod-template-hash"
DEPLOYMENT_REVISION = "deployment.kubernetes.io/revision"


def _meta(obj: Obj) -> Obj:
    return dict(obj.get("metadata") or {})


def _spec(obj: Obj) -> Obj:
    return dict(obj.get("spec") or {})


def _status(obj: Obj) -> Obj:
    return dict(obj.get("status") or {})


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _images(template: Obj) -> list[str]:
    containers = (template.get("spec") or {}).get("containers") or []
    return [str(c.get("image")) for c in containers if isinstance(c, dict) and c.get("image")]


# -- statuses (as Argo Rollouts' plugin words them) --------------------------------------------


def rollout_status(rollout: Obj) -> tuple[str, str]:
    """The Rollout's status word (its phase; InvalidSpec when its spec is invalid) and icon."""
    status = _status(rollout)
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    if any(c.get("type") == "InvalidSpec" and c.get("status") == "True" for c in conditions):
        return "InvalidSpec", "warning"
    phase = str(status.get("phase") or "Unknown")
    icon = {
        "Healthy": "ok",
        "Progressing": "progressing",
        "Paused": "paused",
        "Degraded": "bad",
    }.get(phase, "unknown")
    return phase, icon


def replicaset_status(rs: Obj) -> tuple[str, str]:
    meta, spec, status = _meta(rs), _spec(rs), _status(rs)
    want = _int(spec.get("replicas", 1))
    if _int(meta.get("generation", 0)) > _int(status.get("observedGeneration", 0)):
        return "Progressing", "progressing"
    failed = any(
        c.get("type") == "ReplicaFailure" and c.get("status") == "True"
        for c in status.get("conditions") or []
        if isinstance(c, dict)
    )
    if failed:
        return "ReplicaFailure", "bad"
    if _int(status.get("availableReplicas")) < want:
        return "Progressing", "progressing"
    if want == 0:
        return "ScaledDown", "neutral"
    return "Healthy", "ok"


def pod_status(pod: Obj) -> tuple[str, str, int, int, int]:
    """A Pod's status as ``kubectl get pods`` words it, its icon, ready and total containers,
    and restarts."""
    spec, status = _spec(pod), _status(pod)
    reason = str(status.get("reason") or status.get("phase") or "Unknown")
    containers = spec.get("containers") or []
    ready = restarts = 0
    running = False
    for c in reversed(status.get("containerStatuses") or []):
        if not isinstance(c, dict):
            continue
        restarts += _int(c.get("restartCount"))
        state = c.get("state") or {}
        waiting, terminated = state.get("waiting") or {}, state.get("terminated")
        if waiting.get("reason"):
            reason = str(waiting["reason"])
        elif isinstance(terminated, dict):
            reason = str(terminated.get("reason") or f"ExitCode:{terminated.get('exitCode')}")
        elif c.get("ready") and state.get("running") is not None:
            running = True
            ready += 1
    if reason == "Completed" and running:
        reason = "Running"
    if _meta(pod).get("deletionTimestamp"):
        reason = "Terminating"
    return reason, _pod_icon(reason), ready, len(containers), restarts


def _pod_icon(status: str) -> str:
    if status.startswith("Init:"):
        return "progressing"
    if status.startswith(("Signal:", "ExitCode:")):
        return "bad"
    if status.endswith("Error") or status.startswith("Err"):
        return "warning"
    return {
        "Pending": "progressing",
        "Terminating": "progressing",
        "ContainerCreating": "progressing",
        "Running": "ok",
        "Completed": "ok",
        "Succeeded": "ok",
        "Failed": "bad",
        "InvalidImageName": "bad",
        "CrashLoopBackOff": "bad",
        "ImagePullBackOff": "warning",
        "RegistryUnavailable": "warning",
        "Unknown": "unknown",
    }.get(status, "unknown")


def analysis_icon(phase: str) -> str:
    return {
        "Successful": "ok",
        "Inconclusive": "unknown",
        "Failed": "bad",
        "Error": "warning",
        "Running": "progressing",
        "Pending": "waiting",
    }.get(phase, "unknown")


# -- building the tree -------------------------------------------------------------------------


def _strip_hash(template: Obj) -> Obj:
    """A ReplicaSet's pod template as its Deployment wrote it (without ``pod-template-hash``)."""
    copied = json.loads(json.dumps(template))
    labels = (copied.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return dict(copied)


def _current(rs: Obj, deployment: Obj) -> bool:
    """Whether ``rs`` is its Deployment's current ReplicaSet (the one running its template)."""
    mine = (_meta(rs).get("annotations") or {}).get(DEPLOYMENT_REVISION)
    theirs = (_meta(deployment).get("annotations") or {}).get(DEPLOYMENT_REVISION)
    if mine and theirs:
        return bool(mine == theirs)
    return _strip_hash(_spec(rs).get("template") or {}) == (_spec(deployment).get("template") or {})


def _owner_uid(obj: Obj, uids: Iterable[str]) -> str | None:
    wanted = set(uids)
    for ref in _meta(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("uid") in wanted:
            return str(ref["uid"])
    return None


def _pod_info(pod: Obj) -> Obj:
    status, icon, ready, total, restarts = pod_status(pod)
    meta = _meta(pod)
    return {
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "status": status,
        "icon": icon,
        "ready": f"{ready}/{total}",
        "restarts": restarts,
        "images": _images({"spec": _spec(pod)}),
        "createdAt": meta.get("creationTimestamp"),
    }


def _run_info(run: Obj) -> Obj:
    status = _status(run)
    phase = str(status.get("phase") or "Pending")
    counts = {"successful": 0, "failed": 0, "inconclusive": 0, "error": 0}
    metrics = []
    for result in status.get("metricResults") or []:
        if not isinstance(result, dict):
            continue
        for key in counts:
            counts[key] += _int(result.get(key))
        measurements = [m for m in result.get("measurements") or [] if isinstance(m, dict)]
        last = measurements[-1] if measurements else {}
        metric_phase = str(result.get("phase") or "Running")
        metrics.append(
            {
                "name": result.get("name"),
                "status": metric_phase,
                "icon": analysis_icon(metric_phase),
                **{key: _int(result.get(key)) for key in counts},
                "count": _int(result.get("count")),
                "last": {
                    key: last.get(key)
                    for key in ("phase", "value", "startedAt", "finishedAt", "message")
                    if last.get(key) not in (None, "")
                },
            }
        )
    info: Obj = {
        "name": _meta(run).get("name"),
        "status": phase,
        "icon": analysis_icon(phase),
        **counts,
        "createdAt": _meta(run).get("creationTimestamp"),
        "metrics": metrics,
    }
    if status.get("message"):
        info["message"] = status["message"]
    return info


def _revision_tags(rollout: Obj, revision: str) -> list[str]:
    status = _status(rollout)
    blue_green = status.get("blueGreen") if isinstance(status.get("blueGreen"), dict) else None
    tags = []
    if revision and revision == status.get("stableRevision"):
        tags.append("stable")
    if blue_green is not None:
        if revision == blue_green.get("activeRevision"):
            tags.append("active")
        elif revision == blue_green.get("previewRevision"):
            tags.append("preview")
    elif revision and revision == status.get("canaryRevision") and "stable" not in tags:
        tags.append("canary")
    return tags


def _rs_tags(rollout: Obj, revision: str, role: str, current: bool) -> list[str]:
    """What the ReplicaSet serves: the primary's current one the stable revision (and the
    active Service's, blue/green, unless switched), the target's current one the canary (or
    the preview, or the active once switched)."""
    if not current:
        return []
    tags = _revision_tags(rollout, revision)
    if role == "primary":
        return [t for t in tags if t in ("stable", "active")]
    status = _status(rollout)
    if not revision or revision != status.get("canaryRevision"):
        return []
    return [t for t in tags if t in ("canary", "preview", "active")]


def build(
    rollout: Obj,
    *,
    target: Obj | None,
    primary: Obj | None,
    replicasets: list[Obj],
    pods: list[Obj],
    runs: list[Obj],
    target_revision: str | None,
    warnings: list[str] | None = None,
) -> Obj:
    """The tree of ``rollout`` from the objects read (see the module's docstring)."""
    name = str(_meta(rollout).get("name") or "")
    owners = {
        str(_meta(d)["uid"]): (role, d)
        for role, d in (("primary", primary), ("target", target))
        if d is not None and _meta(d).get("uid")
    }
    by_rs: dict[str, list[Obj]] = {}
    for pod in pods:
        owner = _owner_uid(pod, [str(_meta(rs).get("uid")) for rs in replicasets])
        if owner is not None:
            by_rs.setdefault(owner, []).append(pod)
    revisions: dict[str, Obj] = {}

    def revision_node(revision: str) -> Obj:
        if revision not in revisions:
            revisions[revision] = {
                "revision": revision,
                "tags": _revision_tags(rollout, revision),
                "images": [],
                "replicas": 0,
                "ready": 0,
                "available": 0,
                "replicaSets": [],
                "analysisRuns": [],
            }
        return revisions[revision]

    for rs in replicasets:
        owner = _owner_uid(rs, owners)
        if owner is None:
            continue
        role, deployment = owners[owner]
        template = _spec(rs).get("template") or {}
        current = _current(rs, deployment)
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        if role == "primary":
            revision = str(annotations.get(workloads.REVISION_ANNOTATION) or "")
        elif current and target_revision:
            revision = target_revision
        else:
            revision = workloads.revision({"spec": {"template": _strip_hash(template)}})
        spec, status = _spec(rs), _status(rs)
        if role == "target" and not current and not _int(status.get("replicas")):
            continue  # an old template of the target, long scaled down: not worth a line
        word, icon = replicaset_status(rs)
        members = sorted(
            by_rs.get(str(_meta(rs).get("uid")), []),
            key=lambda p: (str(_meta(p).get("creationTimestamp") or ""), str(_meta(p)["name"])),
        )
        images = _images(template)
        info: Obj = {
            "name": _meta(rs).get("name"),
            "deployment": _meta(deployment).get("name"),
            "role": role,
            "current": current,
            "status": word,
            "icon": icon,
            "replicas": _int(spec.get("replicas", 1)),
            "ready": _int(status.get("readyReplicas")),
            "available": _int(status.get("availableReplicas")),
            "images": images,
            "tags": _rs_tags(rollout, revision, role, current),
            "createdAt": _meta(rs).get("creationTimestamp"),
            "pods": [_pod_info(p) for p in members],
        }
        node = revision_node(revision)
        node["replicaSets"].append(info)
        node["replicas"] += _int(status.get("replicas"))
        node["ready"] += info["ready"]
        node["available"] += info["available"]
        for image in images if info["replicas"] or current else []:
            if image not in node["images"]:
                node["images"].append(image)
    status = _status(rollout)
    for known in (status.get("canaryRevision"), status.get("stableRevision")):
        if isinstance(known, str) and known:
            revision_node(known)
    for run in runs:
        run_name = str(_meta(run).get("name") or "")
        matched = next(
            (r for r in revisions if r and run_name.startswith(f"{name}-{r[:7]}-")),
            None,
        )
        revision_node(matched or "").setdefault("analysisRuns", []).append(_run_info(run))
    ordered = sorted(revisions.values(), key=_newest, reverse=True)
    return {
        "kind": KIND,
        "version": VERSION,
        "rollout": rollout,
        "summary": _summary(rollout, target, primary, ordered),
        "revisions": ordered,
        "warnings": list(warnings or []),
    }


def _newest(node: Obj) -> tuple[int, str]:
    """Revisions newest first: the canary, then by their newest ReplicaSet or AnalysisRun; the
    runs of no known revision last."""
    if not node["revision"]:
        return (-1, "")
    stamps = [str(rs.get("createdAt") or "") for rs in node["replicaSets"]]
    stamps += [str(r.get("createdAt") or "") for r in node["analysisRuns"]]
    return (1 if "canary" in node["tags"] or "preview" in node["tags"] else 0, max(stamps or [""]))


def _summary(rollout: Obj, target: Obj | None, primary: Obj | None, revisions: list[Obj]) -> Obj:
    meta, status = _meta(rollout), _status(rollout)
    word, icon = rollout_status(rollout)
    blue_green = status.get("blueGreen") if isinstance(status.get("blueGreen"), dict) else {}
    strategy = (_spec(rollout).get("strategy") or {}) if isinstance(rollout, dict) else {}
    images: list[Obj] = []
    for node in revisions:
        for rs in node["replicaSets"]:
            if not rs["replicas"]:
                continue
            for image in rs["images"]:
                found = next((i for i in images if i["image"] == image), None)
                if found is None:
                    images.append({"image": image, "tags": list(rs["tags"])})
                else:
                    found["tags"] = sorted(set(found["tags"]) | set(rs["tags"]))
    images.sort(key=lambda i: str(i["image"]))
    newest = target if status.get("canaryRevision") else primary
    deployments = [d for d in (target, primary) if d is not None]
    summary: Obj = {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "status": word,
        "icon": icon,
        "message": status.get("message") or "",
        "strategy": "BlueGreen" if models.BLUE_GREEN in strategy else "Canary",
        "step": _step(rollout),
        "setWeight": _int(status.get("canaryWeight")),
        "stableRevision": status.get("stableRevision") or "",
        "canaryRevision": status.get("canaryRevision") or "",
        "images": images,
        "replicas": {
            "desired": _int(_spec(primary or {}).get("replicas", 0)),
            "current": sum(_int(_status(d).get("replicas")) for d in deployments),
            "updated": _int(_status(newest or {}).get("updatedReplicas")),
            "ready": sum(_int(_status(d).get("readyReplicas")) for d in deployments),
            "available": sum(_int(_status(d).get("availableReplicas")) for d in deployments),
        },
    }
    if blue_green:
        summary["activeRevision"] = blue_green.get("activeRevision") or ""
        summary["previewRevision"] = blue_green.get("previewRevision") or ""
    if status.get("restartedAt"):
        summary["restartedAt"] = status["restartedAt"]
    return summary


def _step(rollout: Obj) -> str | None:
    status = _status(rollout)
    steps = ((_spec(rollout).get("strategy") or {}).get("canary") or {}).get("steps")
    if not isinstance(steps, list) or not steps or not status.get("phase"):
        return None
    if status.get("phase") == "Healthy":
        return f"{len(steps)}/{len(steps)}"
    return f"{min(_int(status.get('currentStepIndex')) + 1, len(steps))}/{len(steps)}"
