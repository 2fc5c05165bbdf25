"""The simulated kubelet: runs every Pod on one pretend node and reports its status.

A Pod is bound to node ``sim-node`` when first seen and then follows a timeline on the store's
clock, from that moment (its ``startTime``):

- for the first half of its ready delay it is ``Pending``, containers ``ContainerCreating``;
- then ``Running``, containers started but not ready;
- at the full delay (``Settings.pod_ready_delay``, or the Pod's annotation
  ``sim.ferry.dev/ready-after``) its containers and the Pod become Ready.

Conventions that stage failures (see ``local/sim/README.md``): a container whose image tag
contains ``crash`` or whose env has ``SIM_CRASH=true`` crash-loops (never ready, restartCount
growing every ready delay). Pods with ``restartPolicy`` ``Never`` or ``OnFailure`` run to
completion: each container runs for ``Settings.job_run_seconds`` (annotation
``sim.ferry.dev/run-seconds``) and exits with the code :func:`exit_code` gives; the Job
controller only counts the outcome.

The whole status is a pure function of (pod, start, now), so rewriting it is idempotent and its
``lastTransitionTime`` values are stable. This module writes only ``spec.nodeName`` and the
status of Pods; it never creates or deletes objects. It also exports the small predicates other
controllers use to read a Pod's state (:func:`is_ready`, :func:`is_active`...).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass
from typing import Any

from local.sim.clock import parse_rfc3339, rfc3339
from local.sim.controllers.base import Controller, DueQueue, Key, Settings, status_condition
from local.sim.events import DELETED, Event
from local.sim.objects import Obj, clone
from local.sim.store import Store

NODE_NAME = "sim-node"
HOST_IP = "172.18.0.2"
READY_AFTER = "sim.ferry.dev/ready-after"
"""Pod annotation: seconds before this Pod becomes Ready (overrides ``pod_ready_delay``)."""
RUN_SECONDS = "sim.ferry.dev/run-seconds"
"""Pod annotation: seconds a run-to-completion Pod runs (overrides ``job_run_seconds``)."""
EXIT_CODE = "sim.ferry.dev/exit-code"
"""Pod annotation: the exit code of a run-to-completion Pod's containers."""
CRASH_ENV = "SIM_CRASH"
EXIT_CODE_ENV = "SIM_EXIT_CODE"
_TRUE = ("true", "1", "yes")

# ---------------------------------------------------------------------------- reading pods


def condition(pod: Obj, kind: str) -> dict[str, Any] | None:
    """The Pod's status condition of type ``kind``, if any."""
    return status_condition(pod.get("status") or {}, kind)


def is_ready(pod: Obj) -> bool:
    """Whether the Pod's Ready condition is True."""
    cond = condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def is_terminal(pod: Obj) -> bool:
    """Whether the Pod has finished (phase Succeeded or Failed)."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_active(pod: Obj) -> bool:
    """Neither finished nor being deleted: what workload controllers count as a replica."""
    return not is_terminal(pod) and not is_terminating(pod)


def restart_count(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


def image_tag(image: str) -> str:
    """The tag of an image reference (``registry:5000/app:v2@sha256:..`` -> ``v2``), or ""."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def _env(container: Obj, name: str) -> str | None:
    for var in container.get("env") or []:
        if isinstance(var, dict) and var.get("name") == name:
            value = var.get("value")
            return None if value is None else str(value)
    return None


def crashes(container: Obj) -> bool:
    """The crash convention: image tag contains ``crash`` or ``SIM_CRASH=true``."""
    flag = (_env(container, CRASH_ENV) or "").lower()
    return "crash" in image_tag(str(container.get("image", ""))) or flag in _TRUE


def exit_code(pod: Obj, container: Obj) -> int:
    """The exit code of a run-to-completion container, by the documented convention: env
    ``SIM_EXIT_CODE``, else the Pod annotation ``sim.ferry.dev/exit-code``, else 1 when the
    image tag contains ``fail`` (or the container follows the crash convention), else 0."""
    for text in (
        _env(container, EXIT_CODE_ENV),
        ((pod["metadata"].get("annotations") or {}).get(EXIT_CODE)),
    ):
        if text is not None:
            try:
                return int(text)
            except ValueError:
                return 1
    if "fail" in image_tag(str(container.get("image", ""))) or crashes(container):
        return 1
    return 0


def _seconds(pod: Obj, annotation: str, default: float) -> float:
    text = (pod["metadata"].get("annotations") or {}).get(annotation)
    try:
        value = float(text) if text is not None else default
    except ValueError:
        return default
    return value if math.isfinite(value) and value >= 0 else default


# ---------------------------------------------------------------------------- the timeline


@dataclass(frozen=True)
class _Plan:
    """When things happen to one Pod (seconds since the epoch, store clock)."""

    start: float
    created: float  # containers start
    ready: float  # containers become ready
    end: float | None  # run-to-completion containers exit (None: they run forever)
    restart_period: float
    on_failure: bool  # restartPolicy OnFailure: failed containers restart in place


def _plan(pod: Obj, start: float, settings: Settings) -> _Plan:
    delay = _seconds(pod, READY_AFTER, settings.pod_ready_delay)
    created = start + delay / 2
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    end = None
    if policy in ("Never", "OnFailure"):
        end = created + _seconds(pod, RUN_SECONDS, settings.job_run_seconds)
    period = delay if delay > 0 else 1.0
    if policy == "OnFailure" and end is not None:
        period = max(end - created, 0.05)
    return _Plan(start, created, start + delay, end, period, policy == "OnFailure")


def _cond(kind: str, ok: bool, since: float, reason: str = "", message: str = "") -> Obj:
    out: Obj = {
        "type": kind,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": rfc3339(since),
    }
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def _container_id(pod: Obj, name: str, restarts: int) -> str:
    seed = f"{pod['metadata'].get('uid')}/{name}/{restarts}".encode()
    return "containerd://" + hashlib.sha256(seed).hexdigest()


def _base_status(container: Obj) -> Obj:
    image = str(container.get("image", ""))
    return {
        "name": container.get("name", ""),
        "image": image,
        "imageID": f"{image.split('@', 1)[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}",
        "ready": False,
        "started": False,
        "restartCount": 0,
        "lastState": {},
    }


def _terminated(code: int, started: float, finished: float, cid: str) -> Obj:
    return {
        "terminated": {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": rfc3339(started),
            "finishedAt": rfc3339(finished),
            "containerID": cid,
        }
    }


@dataclass
class _Run:
    """One container's state at ``now``."""

    status: Obj
    ready_since: float | None  # when it became ready, if it is
    unready_since: float  # when it last stopped being ready (or start)
    exited: int | None  # exit code once a run-to-completion container is done
    next_change: float | None


def _container(pod: Obj, container: Obj, plan: _Plan, now: float) -> _Run:
    name = str(container.get("name", ""))
    status = _base_status(container)
    if now < plan.created:
        status["state"] = {"waiting": {"reason": "ContainerCreating"}}
        return _Run(status, None, plan.start, None, plan.created)
    code = exit_code(pod, container) if plan.end is not None else None
    if plan.end is not None and now >= plan.end and code == 0:
        status["state"] = _terminated(0, plan.created, plan.end, _container_id(pod, name, 0))
        status["containerID"] = status["state"]["terminated"]["containerID"]
        return _Run(status, None, plan.end, 0, None)
    if plan.end is not None and now >= plan.end and not plan.on_failure:
        assert code is not None
        status["state"] = _terminated(code, plan.created, plan.end, _container_id(pod, name, 0))
        status["containerID"] = status["state"]["terminated"]["containerID"]
        return _Run(status, None, plan.end, code, None)
    looping_since = None
    if plan.end is None and crashes(container):
        looping_since = plan.created
    elif plan.end is not None and now >= plan.end:  # OnFailure: the failed container restarts
        looping_since = plan.end
    if looping_since is not None:
        restarts = 1 + int((now - looping_since) // plan.restart_period)
        last_start = looping_since + (restarts - 1) * plan.restart_period
        cid = _container_id(pod, name, restarts - 1)
        status["restartCount"] = restarts
        status["lastState"] = _terminated(code or 1, last_start, last_start, cid)
        status["state"] = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {min(10 * 2 ** (restarts - 1), 300)}s restarting failed "
                f"container={name} pod={pod['metadata']['name']}_"
                f"{pod['metadata'].get('namespace', '')}({pod['metadata'].get('uid', '')})",
            }
        }
        status["containerID"] = cid
        unready_since = looping_since if plan.ready < looping_since else plan.start
        next_restart = looping_since + restarts * plan.restart_period
        return _Run(status, None, unready_since, None, next_restart)
    cid = _container_id(pod, name, 0)
    status.update(started=True, containerID=cid)
    status["state"] = {"running": {"startedAt": rfc3339(plan.created)}}
    ready = now >= plan.ready
    status["ready"] = ready
    upcoming = [t for t in (plan.ready, plan.end) if t is not None and t > now]
    return _Run(
        status, plan.ready if ready else None, plan.start, None, min(upcoming, default=None)
    )


def pod_status(pod: Obj, plan: _Plan, now: float, pod_ip: str) -> tuple[Obj, float | None]:
    """The status the kubelet reports for ``pod`` at ``now``, and when it next changes."""
    containers = [c for c in (pod.get("spec") or {}).get("containers") or [] if isinstance(c, dict)]
    runs = [_container(pod, c, plan, now) for c in containers]
    exits = [r.exited for r in runs]
    finished = bool(runs) and all(code is not None for code in exits)
    if now < plan.created:
        phase = "Pending"
    elif finished:
        phase = "Succeeded" if all(code == 0 for code in exits) else "Failed"
    else:
        phase = "Running"
    unready = [
        str(c.get("name", ""))
        for c, r in zip(containers, runs, strict=True)
        if r.ready_since is None
    ]
    if finished:
        ended = max((r.unready_since for r in runs), default=plan.start)
        since = ended if plan.ready < ended else plan.start
        ready_conds = [_cond(k, False, since, "PodCompleted") for k in ("Ready", "ContainersReady")]
        sandbox = _cond("PodReadyToStartContainers", False, ended)  # torn down after the run
    elif unready:
        since = max((r.unready_since for r in runs), default=plan.start)
        message = f"containers with unready status: [{' '.join(unready)}]"
        ready_conds = [
            _cond(k, False, since, "ContainersNotReady", message)
            for k in ("Ready", "ContainersReady")
        ]
    else:
        since = max((r.ready_since or plan.ready for r in runs), default=plan.ready)
        ready_conds = [_cond(k, True, since) for k in ("Ready", "ContainersReady")]
    if not finished:
        sandbox = _cond("PodReadyToStartContainers", True, plan.start)
    status: Obj = {
        "phase": phase,
        "conditions": [
            sandbox,
            _cond("Initialized", True, plan.start),
            *ready_conds,
            _cond("PodScheduled", True, plan.start),
        ],
        "hostIP": HOST_IP,
        "hostIPs": [{"ip": HOST_IP}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": rfc3339(plan.start),
        "containerStatuses": [r.status for r in runs],
    }
    init = [c for c in (pod.get("spec") or {}).get("initContainers") or [] if isinstance(c, dict)]
    if init:
        status["initContainerStatuses"] = [
            {
                **_base_status(c),
                "state": _terminated(0, plan.start, plan.start, _container_id(pod, c["name"], 0)),
            }
            for c in init
        ]
    upcoming = [r.next_change for r in runs if r.next_change is not None]
    return status, min(upcoming, default=None)


# ---------------------------------------------------------------------------- the controller


class Kubelet(Controller):
    """Binds Pods to ``sim-node`` and writes their status as their timeline unfolds."""

    kinds = (("", "pods"),)

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(store, settings)
        self._pods = self.rt("", "pods")
        self._queue: DueQueue[Key] = DueQueue()
        self._started: dict[str, float] = {}  # pod uid -> when the kubelet started it
        self._ips: dict[str, str] = {}  # pod uid -> its IP
        self._ip_numbers = itertools.count()

    def handle(self, event: Event) -> None:
        meta = event.obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if event.type == DELETED:
            self._queue.discard(key)
            self._started.pop(meta.get("uid", ""), None)
            self._ips.pop(meta.get("uid", ""), None)
        else:
            self._queue.enqueue(key)

    def tick(self) -> None:
        now = self.clock.now()
        for key in self._queue.pop_due(now):
            self._sync(key, now)

    def _sync(self, key: Key, now: float) -> None:
        namespace, name = key
        pod = self.retry_on_conflict(lambda: self._bind(namespace, name))
        if pod is None or is_terminating(pod):
            return
        uid = pod["metadata"]["uid"]
        start = self._started.get(uid)
        if start is None:
            known = (pod.get("status") or {}).get("startTime")
            start = self._started[uid] = parse_rfc3339(known) if known else now
        plan = _plan(pod, start, self.settings)
        ip = self._ips.get(uid) or (pod.get("status") or {}).get("podIP") or self._next_ip()
        self._ips[uid] = ip
        status, upcoming = pod_status(pod, plan, now, ip)
        if upcoming is not None:
            self._queue.enqueue(key, upcoming)
        merged = {**(pod.get("status") or {}), **status}
        if merged != pod.get("status"):

            def write(current: Obj) -> Obj:
                current["status"] = {**(current.get("status") or {}), **clone(status)}
                return current

            # (a new Pod of the same name is left alone: its own event will come)
            self.patch_if_same(self._pods, pod, write, subresource="status")

    def _bind(self, namespace: str, name: str) -> Obj:
        pod = self.store.get(self._pods, namespace, name)
        if (pod.get("spec") or {}).get("nodeName") or is_terminating(pod):
            return pod

        def bind(current: Obj) -> Obj:
            current.setdefault("spec", {}).setdefault("nodeName", NODE_NAME)
            return current

        return self.store.patch(self._pods, namespace, name, bind)

    def _next_ip(self) -> str:
        n = next(self._ip_numbers)
        return f"10.244.{(n // 254) % 256}.{n % 254 + 1}"
