"""The Job controller, driven through the store in-process.

Covered: a Job running its Pod to completion; a failing Job retrying until its backoffLimit;
the exit-code annotation deciding the outcome; a suspended Job running no Pods until resumed.
"""

from __future__ import annotations

from local.sim.cluster import Simulator
from local.sim.objects import Obj
from tests.sim.workloads import NS, condition, eventually, get, objects, rt

# --------------------------------------------------------------------------------------- Jobs


def job_body(name: str, image: str = "app:v1", backoff: int = 6, **annotations: str) -> Obj:
    return {
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff,
            "template": {
                "metadata": {"annotations": annotations} if annotations else {},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "job", "image": image}],
                },
            },
        },
    }


def finished_job(sim: Simulator, name: str) -> Obj | None:
    job = get(sim, "batch", "jobs", name)
    done = any(condition(job, kind).get("status") == "True" for kind in ("Complete", "Failed"))
    return job if done else None


def test_job_runs_its_pod_to_completion(cluster: Simulator) -> None:
    created = cluster.store.create(rt(cluster, "batch", "jobs"), NS, job_body("once"))

    job = eventually(lambda: finished_job(cluster, "once"))
    assert condition(job, "Complete")["reason"] == "CompletionsReached"
    assert condition(job, "SuccessCriteriaMet")["status"] == "True"
    status = job["status"]
    assert status["succeeded"] == 1 and "failed" not in status and "active" not in status
    assert status["startTime"] and status["completionTime"] and status["ready"] == 0
    (pod,) = [
        p for p in objects(cluster, "", "pods") if p["metadata"]["labels"].get("job-name") == "once"
    ]
    assert pod["metadata"]["name"].startswith("once-")
    assert pod["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    assert pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")


def test_failing_job_retries_until_its_backoff_limit(cluster: Simulator) -> None:
    cluster.store.create(rt(cluster, "batch", "jobs"), NS, job_body("flaky", "app:fail", 2))

    job = eventually(lambda: finished_job(cluster, "flaky"))
    failed = condition(job, "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "BackoffLimitExceeded")
    assert condition(job, "FailureTarget")["status"] == "True"
    assert not condition(job, "Complete")
    assert job["status"]["failed"] == 3 and "succeeded" not in job["status"]
    assert "completionTime" not in job["status"]
    pods = [
        p
        for p in objects(cluster, "", "pods")
        if p["metadata"]["labels"].get("job-name") == "flaky"
    ]
    assert len(pods) == 3
    for pod in pods:
        assert pod["status"]["phase"] == "Failed"
        terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")


def test_job_exit_code_annotation_decides_the_outcome(cluster: Simulator) -> None:
    body = job_body("coded", backoff=0, **{"sim.ferry.dev/exit-code": "3"})
    cluster.store.create(rt(cluster, "batch", "jobs"), NS, body)

    job = eventually(lambda: finished_job(cluster, "coded"))
    assert condition(job, "Failed")["status"] == "True"
    (pod,) = [
        p
        for p in objects(cluster, "", "pods")
        if p["metadata"]["labels"].get("job-name") == "coded"
    ]
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_suspended_job_runs_no_pods(cluster: Simulator) -> None:
    body = job_body("later")
    body["spec"]["suspend"] = True
    cluster.store.create(rt(cluster, "batch", "jobs"), NS, body)

    job = eventually(
        lambda: (
            condition(get(cluster, "batch", "jobs", "later"), "Suspended")
            and get(cluster, "batch", "jobs", "later")
        )
    )
    assert condition(job, "Suspended")["reason"] == "JobSuspended"
    assert not [
        p
        for p in objects(cluster, "", "pods")
        if p["metadata"]["labels"].get("job-name") == "later"
    ]

    def resume(obj: Obj) -> Obj:
        obj["spec"]["suspend"] = False
        return obj

    cluster.store.patch(rt(cluster, "batch", "jobs"), NS, "later", resume)
    job = eventually(lambda: finished_job(cluster, "later"))
    assert condition(job, "Complete")["status"] == "True"
