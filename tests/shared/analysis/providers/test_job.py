"""The ``job`` provider against the Kubernetes API simulator, through ``shared.kube.Kube``.

Covers: a Job that succeeds and one that fails (exit code from the pod template annotation),
pending until the Job finishes, re-measuring reads the same Job instead of creating another,
labels and the owner reference to a real AnalysisRun (deleting the run collects the Job), Job
names that stay valid and distinct however long or odd the run and metric names are, a Job of the
same name made for something else is refused, and a spec the API rejects is a ProviderError.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from local.sim.cluster import Simulator
from local.sim.controllers import Settings
from shared.analysis import providers
from shared.analysis.providers import MeasurementRef, Observation, Provider, ProviderError, job
from shared.kube import Kube
from tests.prometheus import eventually

NS = "default"
CRD = Path(__file__).parents[4] / "knative" / "crds" / "analysisruns.yaml"
SPEC: dict[str, Any] = {
    "backoffLimit": 0,
    "template": {
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "check", "image": "example.com/smoke:1.0"}],
        }
    },
}
_runs = itertools.count()


@pytest.fixture(scope="module")
def kube() -> Iterator[Kube]:
    settings = Settings(pod_ready_delay=0.05, job_run_seconds=0.05, tick=0.01)
    with Simulator(settings=settings) as sim:
        api_client = sim.api_client()
        access = Kube(api_client)
        crd = yaml.safe_load(CRD.read_text())
        access.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crd)
        try:
            yield access
        finally:
            api_client.close()


def analysis_run(kube: Kube) -> dict[str, Any]:
    """A real AnalysisRun with one job metric, to own the Jobs."""
    name = f"canary-{next(_runs)}"
    body = {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"metrics": [{"name": "smoke", "provider": {"job": {"spec": SPEC}}}]},
    }
    created: dict[str, Any] = kube.request(
        "POST", f"/apis/ferry.dev/v1alpha1/namespaces/{NS}/analysisruns", body=body
    )
    return created


def ref_for(run: dict[str, Any], index: int = 0) -> MeasurementRef:
    return MeasurementRef(NS, run["metadata"]["name"], "smoke", index, owner=run)


def jobs_of(kube: Kube, run: str) -> list[dict[str, Any]]:
    return kube.list_of("batch/v1", "jobs", NS, label_selector=f"{job.RUN_LABEL}={run}")


def with_exit_code(code: str) -> dict[str, Any]:
    spec = copy.deepcopy(SPEC)
    spec["template"]["metadata"] = {"annotations": {"sim.ferry.dev/exit-code": code}}
    return spec


def finished(provider: Provider, config: dict[str, Any], ref: MeasurementRef) -> Observation:
    """Measure until the Job is no longer pending."""

    def probe() -> Observation | None:
        seen = provider.measure(config, ref)
        return None if seen.pending else seen

    return eventually(probe)


def test_successful_job_is_pending_then_succeeded(kube: Kube) -> None:
    provider = providers.get("job", kube=kube)
    ref = ref_for(analysis_run(kube))

    first = provider.measure({"spec": SPEC}, ref)
    assert first.pending is True and first.succeeded is None

    done = finished(provider, {"spec": SPEC}, ref)
    assert done.succeeded is True and done.value is None
    assert done.message == f"Job {job.job_name(ref)} completed"


def test_failing_job_reports_the_reason(kube: Kube) -> None:
    provider = providers.get("job", kube=kube)
    ref = ref_for(analysis_run(kube))
    config = {"spec": with_exit_code("1")}

    assert provider.measure(config, ref).pending is True
    done = finished(provider, config, ref)

    assert done.succeeded is False
    assert done.message.startswith(f"Job {job.job_name(ref)} failed: BackoffLimitExceeded")


def test_measuring_again_reads_the_same_job(kube: Kube) -> None:
    provider = providers.get("job", kube=kube)
    run = analysis_run(kube)
    ref = ref_for(run)

    provider.measure({"spec": SPEC}, ref)
    provider.measure({"spec": with_exit_code("1")}, ref)  # a changed spec does not matter now
    assert finished(provider, {"spec": SPEC}, ref).succeeded is True

    (created,) = jobs_of(kube, run["metadata"]["name"])
    assert created["metadata"]["name"] == job.job_name(ref)
    provider.measure({"spec": SPEC}, ref_for(run, index=1))
    assert len(jobs_of(kube, run["metadata"]["name"])) == 2


def test_job_is_labelled_and_owned_by_the_run(kube: Kube) -> None:
    run = analysis_run(kube)
    ref = ref_for(run)
    config = {"spec": SPEC, "metadata": {"labels": {"team": "web"}, "annotations": {"a": "b"}}}
    providers.get("job", kube=kube).measure(config, ref)

    (created,) = jobs_of(kube, run["metadata"]["name"])
    meta = created["metadata"]
    assert meta["labels"] | job.labels(ref) == meta["labels"]
    assert meta["labels"]["team"] == "web" and meta["annotations"]["a"] == "b"
    assert meta["labels"][job.METRIC_LABEL] == "smoke" and meta["labels"][job.INDEX_LABEL] == "0"
    (owner,) = meta["ownerReferences"]
    assert owner == {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "AnalysisRun",
        "name": run["metadata"]["name"],
        "uid": run["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }

    kube.delete("ferry.dev/v1alpha1", "analysisruns", NS, run["metadata"]["name"])
    eventually(lambda: not jobs_of(kube, run["metadata"]["name"]), timeout=5)


def test_job_without_owner_has_no_owner_reference(kube: Kube) -> None:
    ref = MeasurementRef(NS, "ownerless", "smoke", 0)
    providers.get("job", kube=kube).measure({"spec": SPEC}, ref)

    created = kube.get("batch/v1", "jobs", NS, job.job_name(ref))
    assert created is not None and "ownerReferences" not in created["metadata"]


def test_job_names_stay_valid_and_distinct() -> None:
    assert job.job_name(MeasurementRef(NS, "run-1", "error-rate", 3)) == "run-1-error-rate-3"

    long_run = "canary-" + "x" * 80
    names = {job.job_name(MeasurementRef(NS, long_run, "error-rate", i)) for i in range(3)}
    assert len(names) == 3
    for name in names:
        assert len(name) <= 63 and name[0].isalnum() and name[-1].isalnum()
    odd = job.job_name(MeasurementRef(NS, "Run.One", "p99_Latency", 0))
    assert (
        odd.startswith("run-one-p99-latency-0-") and len(odd) == len("run-one-p99-latency-0-") + 8
    )
    assert odd == job.job_name(MeasurementRef(NS, "Run.One", "p99_Latency", 0))
    label = job.labels(MeasurementRef(NS, long_run, "p99 latency!", 0))
    assert len(label[job.RUN_LABEL]) <= 63 and label[job.METRIC_LABEL].startswith("p99-latency-")


def test_job_of_the_same_name_made_for_something_else_is_refused(kube: Kube) -> None:
    ref = MeasurementRef(NS, "taken", "smoke", 0)
    kube.request(
        "POST",
        f"/apis/batch/v1/namespaces/{NS}/jobs",
        body={
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": job.job_name(ref), "namespace": NS},
            "spec": SPEC,
        },
    )

    with pytest.raises(ProviderError, match="not created for this measurement"):
        providers.get("job", kube=kube).measure({"spec": SPEC}, ref)


def test_spec_the_api_rejects_is_a_provider_error(kube: Kube) -> None:
    spec = copy.deepcopy(SPEC)
    spec["template"]["spec"]["containers"] = [{"name": "check"}]  # no image
    ref = MeasurementRef(NS, "invalid", "smoke", 0)

    with pytest.raises(ProviderError, match="could not create Job invalid-smoke-0"):
        providers.get("job", kube=kube).measure({"spec": spec}, ref)


def test_config_without_a_job_spec_is_refused(kube: Kube) -> None:
    with pytest.raises(ProviderError, match="pod template"):
        providers.get("job", kube=kube).measure({}, MeasurementRef(NS, "empty", "smoke", 0))


def test_job_provider_needs_kube() -> None:
    with pytest.raises(ValueError, match="needs Kubernetes access"):
        providers.get("job")
