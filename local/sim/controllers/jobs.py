"""The Job controller: creates a Job's Pods, counts how they end, and finishes the Job.

Division of labour (documented in ``local/sim/README.md``): the kubelet runs every Pod,
including a Job's, and decides how it ends (``sim.ferry.dev/run-seconds``,
``sim.ferry.dev/exit-code``, image tags containing ``fail``, ``SIM_EXIT_CODE``); this controller
never writes a Pod's status. It keeps ``min(parallelism, completions - succeeded)`` Pods running
(``generateName: <job>-``, the template's labels and annotations, a controller ownerReference),
replaces failed ones until more than ``backoffLimit`` have failed (for ``OnFailure``, until the
container restarts reach it), honours ``suspend`` and ``activeDeadlineSeconds``, and reports
``status.active``, ``ready``, ``succeeded``, ``failed``, ``startTime``, ``completionTime`` and
the conditions ``SuccessCriteriaMet``/``Complete`` or ``FailureTarget``/``Failed`` and
``Suspended``. A Pod's outcome is remembered once seen, so deleting a finished Pod does not
change the counts; Pods deleted because the Job failed count as failed. Not modelled: Indexed
completion, pod failure and success policies, backoff delays between retries,
``ttlSecondsAfterFinished``, job-tracking finalizers.
"""

from __future__ import annotations

from local.sim import errors
from local.sim.clock import parse_rfc3339, rfc3339
from local.sim.controllers import garbage, kubelet
from local.sim.controllers.base import (
    RESYNC_SECONDS,
    Controller,
    DueQueue,
    Every,
    Key,
    Settings,
    key_of,
    status_condition,
)
from local.sim.events import DELETED, Event
from local.sim.objects import Obj, clone
from local.sim.store import Store

_FINISHED = ("Complete", "Failed")


def finished(job: Obj) -> bool:
    """Whether the Job has its Complete or Failed condition."""
    status = job.get("status") or {}
    return any((status_condition(status, k) or {}).get("status") == "True" for k in _FINISHED)


def _set_condition(
    status: Obj, kind: str, value: str, reason: str, message: str, now: float
) -> None:
    current = status_condition(status, kind)
    if current and (current["status"], current.get("reason")) == (value, reason):
        return
    stamp = rfc3339(now)
    cond = {
        "type": kind,
        "status": value,
        "lastProbeTime": stamp,
        "lastTransitionTime": stamp
        if current is None or current["status"] != value
        else current.get("lastTransitionTime"),
        "reason": reason,
        "message": message,
    }
    others = [c for c in status.get("conditions") or [] if c.get("type") != kind]
    status["conditions"] = [*others, cond]


class JobController(Controller):
    """Runs each Job's Pods to the wanted number of completions, or fails the Job."""

    kinds = (("batch", "jobs"), ("", "pods"))

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(store, settings)
        self._jobs = self.rt("batch", "jobs")
        self._pods = self.rt("", "pods")
        self._queue: DueQueue[Key] = DueQueue()
        self._outcomes: dict[str, dict[str, str]] = {}  # job uid -> pod uid -> final phase
        self._started: dict[str, float] = {}  # job uid -> when it (last) started
        self._resync = Every(RESYNC_SECONDS)

    # -------------------------------------------------------------------- queueing

    def handle(self, event: Event) -> None:
        meta = event.obj["metadata"]
        namespace = meta.get("namespace", "")
        if event.key == self._jobs.key:
            if event.type == DELETED:
                self._outcomes.pop(meta.get("uid", ""), None)
                self._started.pop(meta.get("uid", ""), None)
            else:
                self._queue.enqueue((namespace, meta["name"]))
            return
        ref = garbage.controller_of(event.obj)
        if ref is None or ref.get("kind") != "Job":
            return
        self._remember(str(ref.get("uid")), event.obj)
        self._queue.enqueue((namespace, str(ref.get("name"))))

    def _remember(self, job_uid: str, pod: Obj) -> None:
        if kubelet.is_terminal(pod):
            phase = pod["status"]["phase"]
            self._outcomes.setdefault(job_uid, {})[pod["metadata"]["uid"]] = phase

    def tick(self) -> None:
        if self._resync.due():
            self.resync(self._queue, self._jobs, keep=lambda job: not finished(job))
        now = self.clock.now()
        for job in self.due_objects(self._queue, self._jobs, now):
            self._sync(job, now)

    # -------------------------------------------------------------------- syncing

    def _sync(self, job: Obj, now: float) -> None:
        meta = job["metadata"]
        if meta.get("deletionTimestamp"):
            return
        uid = meta["uid"]
        spec = job.get("spec") or {}
        status: Obj = clone(job.get("status") or {})
        pods = [
            pod
            for pod in self.store.list(self._pods, meta["namespace"])[0]
            if garbage.controlled_by(pod, uid)
        ]
        for pod in pods:
            self._remember(uid, pod)
        outcomes = self._outcomes.get(uid, {})
        succeeded = sum(1 for phase in outcomes.values() if phase == "Succeeded")
        failed = sum(1 for phase in outcomes.values() if phase == "Failed")
        active = [pod for pod in pods if kubelet.is_active(pod)]
        if finished(job):
            self._delete(active)
            return
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1))
        suspended = bool(spec.get("suspend"))
        if not suspended and not status.get("startTime"):
            status["startTime"] = rfc3339(now)
            self._started[uid] = now
        start = self._start(uid, status)

        failure = self._failure(job, failed, active, start, now)
        if failure is not None:
            self._delete(active)
            for pod in active:  # Pods killed because the Job failed count as failed
                self._outcomes.setdefault(uid, {})[pod["metadata"]["uid"]] = "Failed"
            failed += len(active)
            active = []
            for kind in ("FailureTarget", "Failed"):
                _set_condition(status, kind, "True", *failure, now)
        elif (completions is None and succeeded >= 1 and not active) or (
            completions is not None and succeeded >= int(completions)
        ):
            self._delete(active)
            active = []
            for kind in ("SuccessCriteriaMet", "Complete"):
                _set_condition(
                    status,
                    kind,
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    now,
                )
            status["completionTime"] = rfc3339(now)
        elif suspended:
            self._delete(active)
            active = []
            _set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", now)
        else:
            if (status_condition(status, "Suspended") or {}).get("status") == "True":
                _set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", now)
                status["startTime"] = rfc3339(now)
                self._started[uid] = start = now
            if completions is None:
                wanted = parallelism if succeeded == 0 else 0
            else:
                wanted = max(min(parallelism, int(completions) - succeeded), 0)
            if len(active) > wanted:
                surplus = sorted(active, key=lambda p: p["metadata"]["creationTimestamp"])
                self._delete(surplus[wanted:])
                active = surplus[:wanted]
            for _ in range(wanted - len(active)):
                created = self._create_pod(job)
                if created is None:
                    break
                active.append(created)
            deadline = spec.get("activeDeadlineSeconds")
            if deadline is not None and start is not None:
                self._queue.enqueue(key_of(job), start + float(deadline))

        counts = {"active": len(active), "succeeded": succeeded, "failed": failed}
        for field, value in counts.items():
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        status["ready"] = sum(1 for pod in active if kubelet.is_ready(pod))
        status["terminating"] = 0
        status.setdefault("uncountedTerminatedPods", {})
        if status != (job.get("status") or {}):
            self.replace_status(self._jobs, job, status)

    def _start(self, uid: str, status: Obj) -> float | None:
        if uid in self._started:
            return self._started[uid]
        if status.get("startTime"):
            self._started[uid] = parse_rfc3339(status["startTime"])
            return self._started[uid]
        return None

    def _failure(
        self, job: Obj, failed: int, active: list[Obj], start: float | None, now: float
    ) -> tuple[str, str] | None:
        """Why the Job fails now (reason, message), if it does."""
        spec = job.get("spec") or {}
        limit = int(spec.get("backoffLimit", 6))
        exceeded = failed > limit
        template_spec = (spec.get("template") or {}).get("spec") or {}
        if not exceeded and template_spec.get("restartPolicy") == "OnFailure":
            restarts = sum(kubelet.restart_count(pod) for pod in active)
            exceeded = restarts > 0 if limit == 0 else restarts >= limit
        if exceeded:
            return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and start is not None and now - start >= float(deadline):
            return "DeadlineExceeded", "Job was active longer than specified deadline"
        return None

    def _create_pod(self, job: Obj) -> Obj | None:
        template = (job.get("spec") or {}).get("template") or {}
        template_meta = template.get("metadata") or {}
        meta: Obj = {
            "generateName": f"{job['metadata']['name']}-",
            "labels": dict(template_meta.get("labels") or {}),
            "ownerReferences": [garbage.owner_reference(job)],
        }
        if template_meta.get("annotations"):
            meta["annotations"] = dict(template_meta["annotations"])
        body = {"metadata": meta, "spec": clone(template.get("spec") or {})}
        try:
            return self.store.create(self._pods, job["metadata"]["namespace"], body)
        except errors.ApiError as exc:
            if exc.code in (404, 409, 422):  # namespace gone, or a template the API rejects
                return None
            raise

    def _delete(self, pods: list[Obj]) -> None:
        for pod in pods:
            self.delete_if_same(self._pods, pod)
