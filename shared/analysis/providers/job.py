"""The ``job`` provider: a Kubernetes Job whose success or failure is the measurement.

Config (Argo Rollouts' field names): ``spec`` (a batch/v1 JobSpec) and optional ``metadata``
(``labels``, ``annotations``). The first call for a measurement creates the Job
``<run>-<metric>-<index>`` (made a valid name, with a short hash when it had to be trimmed or
cleaned), labelled with the run, metric and index and owned by the AnalysisRun when one is given;
every later call only reads it. Its ``Complete`` condition means succeeded, ``Failed`` means
failed (with the Job's reason), anything else pending.

Everything goes through :class:`shared.kube.Kube`. The API refusing the Job (an invalid spec,
forbidden) is a :class:`ProviderError`; an unreachable API raises ``shared.kube.Transient``
unchanged, since that is the controller's trouble, not the measurement's. Finished Jobs are left
in place (the AnalysisRun's garbage collection removes them); this module never deletes anything.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from shared.analysis.providers import Capability, Deps, MeasurementRef, Observation, ProviderError
from shared.kube import ApiError, Kube, Transient
from shared.objects import FERRY, MANAGED_BY, owner_reference

Obj = dict[str, Any]
API_VERSION = "batch/v1"
PLURAL = "jobs"
RUN_LABEL = "ferry.dev/analysis-run"
METRIC_LABEL = "ferry.dev/metric"
INDEX_LABEL = "ferry.dev/measurement"
MAX_NAME = 63
"""Job names become the ``job-name`` label of its Pods, so they must fit a label value."""


CAPABILITIES = frozenset({Capability.OUTCOME, Capability.PENDING})
"""A Job's measurement succeeds or fails by itself, and takes time."""


def create(deps: Deps) -> JobProvider:
    if deps.kube is None:
        raise ValueError("the job provider needs Kubernetes access (kube=...)")
    return JobProvider(deps.kube)


class JobProvider:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def measure(self, config: Mapping[str, Any], ref: MeasurementRef) -> Observation:
        name = job_name(ref)
        job = self.kube.get(API_VERSION, PLURAL, ref.namespace, name)
        if job is None:
            job = self._create(desired(config, ref))
        else:
            _check_ours(job, ref)
        return _observation(job)

    def _create(self, job: Obj) -> Obj:
        meta = job["metadata"]
        try:
            created: Obj = self.kube.request(
                "POST", f"/apis/{API_VERSION}/namespaces/{meta['namespace']}/{PLURAL}", body=job
            )
        except ApiError as exc:
            raise ProviderError(f"could not create Job {meta['name']}", str(exc)) from None
        except Transient:  # 409 included: someone created it meanwhile?
            existing = self.kube.get(API_VERSION, PLURAL, meta["namespace"], meta["name"])
            if existing is None:
                raise
            return existing
        return created


def job_name(ref: MeasurementRef) -> str:
    """The Job of one measurement: ``<run>-<metric>-<index>``, a valid DNS label."""
    raw = f"{ref.run}-{ref.metric}-{ref.index}"
    return _fit(raw, re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-"), "-")


def labels(ref: MeasurementRef) -> dict[str, str]:
    """The labels linking a Job to its run, metric and measurement."""
    return {
        MANAGED_BY: FERRY,
        RUN_LABEL: _label_value(ref.run),
        METRIC_LABEL: _label_value(ref.metric),
        INDEX_LABEL: str(ref.index),
    }


def desired(config: Mapping[str, Any], ref: MeasurementRef) -> Obj:
    """The Job for this measurement, as it is created."""
    spec = config.get("spec")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("template"), Mapping):
        raise ProviderError("job: spec must be a Job spec with a pod template")
    extra = config.get("metadata") or {}
    if not isinstance(extra, Mapping):
        raise ProviderError("job: metadata must be a mapping of labels and annotations")
    metadata: Obj = {
        "name": job_name(ref),
        "namespace": ref.namespace,
        "labels": {**dict(extra.get("labels") or {}), **labels(ref)},
    }
    if extra.get("annotations"):
        metadata["annotations"] = dict(extra["annotations"])
    if ref.owner is not None:
        metadata["ownerReferences"] = [owner_reference(ref.owner)]
    return {
        "apiVersion": API_VERSION,
        "kind": "Job",
        "metadata": metadata,
        "spec": copy.deepcopy(dict(spec)),
    }


def _check_ours(job: Obj, ref: MeasurementRef) -> None:
    """Refuse to read a Job of the same name that another measurement created."""
    meta = job.get("metadata") or {}
    name = meta.get("name")
    found = meta.get("labels") or {}
    wanted = labels(ref)
    if any(found.get(key) != wanted[key] for key in (RUN_LABEL, METRIC_LABEL, INDEX_LABEL)):
        raise ProviderError(f"Job {name} exists but was not created for this measurement")
    uid = ((ref.owner or {}).get("metadata") or {}).get("uid")
    owners = [o.get("uid") for o in meta.get("ownerReferences") or [] if o.get("controller")]
    if uid and owners and uid not in owners:
        raise ProviderError(
            f"Job {name} belongs to an earlier AnalysisRun named {ref.run} and is being "
            "deleted; the measurement can be taken once it is gone"
        )


def _observation(job: Obj) -> Observation:
    name = job["metadata"]["name"]
    conditions = (job.get("status") or {}).get("conditions") or []
    for condition in conditions:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return Observation(None, succeeded=True, message=f"Job {name} completed")
        if condition.get("type") == "Failed":
            why = ": ".join(
                str(part) for part in (condition.get("reason"), condition.get("message")) if part
            )
            return Observation(
                None, succeeded=False, message=f"Job {name} failed" + (f": {why}" if why else "")
            )
    return Observation(None, pending=True, message=f"Job {name} is running")


def _label_value(text: str) -> str:
    """``text`` as a valid label value (at most 63 characters of ``[A-Za-z0-9._-]``)."""
    return _fit(text, re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._"), "-._")


def _fit(raw: str, clean: str, trailing: str) -> str:
    """``raw`` if it was valid as is, else ``clean`` trimmed, with a hash of ``raw`` so that
    different originals stay different."""
    if clean == raw and len(raw) <= MAX_NAME:
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    head = clean[: MAX_NAME - len(digest) - 1].rstrip(trailing)
    return f"{head}-{digest}" if head else digest
