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
import queue
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.sim import errors, podenv
from local.sim.clock import parse_rfc3339, rfc3339
from local.sim.containers import ContainerState, Launch, LiveContainers
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


def _live_container(
    pod: Obj,
    container: Obj,
    state: ContainerState | None,
    waiting: tuple[str, str] | None,
    since: float,
) -> _Run:
    """A live container's status: from its process and its probes (``state``), or waiting
    (``waiting``: reason and message, e.g. a ConfigMap it mounts does not exist yet)."""
    name = str(container.get("name", ""))
    status = _base_status(container)
    if state is None:
        reason, message = waiting or ("ContainerCreating", "")
        waiting_state = {"reason": reason, **({"message": message} if message else {})}
        status["state"] = {"waiting": waiting_state}
        return _Run(status, None, since, None, None)
    status["restartCount"] = state.restarts
    if state.last_exit is not None:
        code, started, finished = state.last_exit
        # the one that exited: the current one while backing off, else the one before
        ended = state.restarts if state.running_since is None else state.restarts - 1
        previous = _container_id(pod, name, max(ended, 0))
        status["lastState"] = _terminated(code, started, finished, previous)
    if state.running_since is None:
        status["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
        return _Run(status, None, state.since, None, None)
    cid = _container_id(pod, name, state.restarts)
    status.update(started=True, containerID=cid, ready=state.ready)
    status["state"] = {"running": {"startedAt": rfc3339(state.running_since)}}
    if state.ready:
        return _Run(status, state.since, state.since, None, None)
    return _Run(status, None, state.since, None, None)


def pod_status(
    pod: Obj,
    plan: _Plan,
    now: float,
    pod_ip: str,
    live: Mapping[str, ContainerState | None] | None = None,
    waiting: tuple[str, str] | None = None,
) -> tuple[Obj, float | None]:
    """The status the kubelet reports for ``pod`` at ``now``, and when it next changes.
    ``live``: the state of each container run as a process (None: not started yet, because of
    ``waiting``)."""
    live = live or {}
    containers = [c for c in (pod.get("spec") or {}).get("containers") or [] if isinstance(c, dict)]
    runs = [
        _live_container(pod, c, live[c.get("name", "")], waiting, plan.start)
        if c.get("name", "") in live and now >= plan.created
        else _container(pod, c, plan, now)
        for c in containers
    ]
    exits = [r.exited for r in runs]
    finished = bool(runs) and all(code is not None for code in exits)
    if now < plan.created or (live and all(state is None for state in live.values())):
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
    """Binds Pods to ``sim-node`` and writes their status as their timeline unfolds; with
    ``Settings.live``, runs the containers of the images it names as real processes."""

    kinds: tuple[tuple[str, str], ...] = (("", "pods"),)

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(store, settings)
        self._pods = self.rt("", "pods")
        self._queue: DueQueue[Key] = DueQueue()
        self._started: dict[str, float] = {}  # pod uid -> when the kubelet started it
        self._ips: dict[str, str] = {}  # pod uid -> its IP
        self._ip_numbers = itertools.count()
        self._live: LiveContainers | None = None  # made for the first live Pod
        self._closed = False
        self._woken: queue.SimpleQueue[Key] = queue.SimpleQueue()  # from the live containers
        self._reads: dict[tuple[str, str, str], set[Key]] = {}  # (ns, kind, name) -> live Pods
        self._waiting: dict[str, tuple[str, str]] = {}  # live pod uid -> why it cannot start
        if settings.live is not None:
            self.kinds = (("", "pods"), ("", "configmaps"), ("", "secrets"))

    def handle(self, event: Event) -> None:
        meta = event.obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if event.key != self._pods.key:  # a ConfigMap or Secret a live Pod reads
            plural = event.key[1]
            for pod_key in self._reads.get((key[0], plural, key[1]), set()):
                self._queue.enqueue(pod_key)
            return
        if event.type == DELETED or is_terminating(event.obj):
            uid = meta.get("uid", "")
            if self._live is not None and uid in self._ips:
                self._live.stop(uid)
                self._forget_reads(key)
                self._waiting.pop(uid, None)
        if event.type == DELETED:
            self._queue.discard(key)
            self._started.pop(meta.get("uid", ""), None)
            self._ips.pop(meta.get("uid", ""), None)
        else:
            self._queue.enqueue(key)

    def tick(self) -> None:
        while True:
            try:
                self._queue.enqueue(self._woken.get_nowait())
            except queue.Empty:
                break
        now = self.clock.now()
        for key in self._queue.pop_due(now):
            self._sync(key, now)

    def close(self) -> None:
        self._closed = True  # (a sync still running starts no process after this)
        if self._live is not None:
            self._live.close()

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
        live_names = [] if self._closed else self._live_names(pod)
        ip = self._ips.get(uid)
        if ip is None:
            if live_names:
                ip = self._containers().address(_tcp_ports(pod, live_names))
            else:
                ip = (pod.get("status") or {}).get("podIP") or self._next_ip()
        self._ips[uid] = ip
        live: dict[str, ContainerState | None] = {}
        if live_names:
            if now >= plan.created:
                self._run_live(pod, ip, live_names)
            states = self._containers().state(uid)
            live = {name: states.get(name) for name in live_names}
        status, upcoming = pod_status(pod, plan, now, ip, live, self._waiting.get(uid))
        if upcoming is not None:
            self._queue.enqueue(key, upcoming)
        merged = {**(pod.get("status") or {}), **status}
        if merged != pod.get("status"):

            def write(current: Obj) -> Obj:
                current["status"] = {**(current.get("status") or {}), **clone(status)}
                return current

            # (a new Pod of the same name is left alone: its own event will come)
            self.patch_if_same(self._pods, pod, write, subresource="status")

    # ------------------------------------------------------------------ live containers

    def _containers(self) -> LiveContainers:
        if self._live is None:
            assert self.settings.live is not None
            self._live = LiveContainers(
                self.settings.live,
                clock=self.clock.now,
                notify=lambda namespace, name: self._woken.put((namespace, name)),
                restart_delay=self.settings.pod_ready_delay,
                drain=self.settings.live_drain,
            )
        return self._live

    def _live_names(self, pod: Obj) -> list[str]:
        """The Pod's containers that run as processes: those of the images ``Settings.live``
        runs, in Pods that run until deleted (``restartPolicy: Always``)."""
        runner = self.settings.live
        spec = pod.get("spec") or {}
        if runner is None or spec.get("restartPolicy", "Always") != "Always":
            return []
        return [
            str(c["name"])
            for c in spec.get("containers") or []
            if isinstance(c, dict) and c.get("name") and runner.runs(str(c.get("image", "")))
        ]

    def _run_live(self, pod: Obj, ip: str, names: list[str]) -> None:
        """Start the Pod's live containers (once), or refresh the files of their volumes."""
        meta = pod["metadata"]
        namespace, uid = meta.get("namespace", ""), meta["uid"]
        key = (namespace, meta["name"])
        containers = self._containers()
        for kind, name in podenv.references(pod):
            self._reads.setdefault((namespace, kind, name), set()).add(key)

        def get(kind: str, name: str) -> Obj | None:
            try:
                return self.store.get(self.rt("", kind), namespace, name)
            except errors.ApiError:
                return None

        try:
            volumes = podenv.write_volumes(pod, containers.pod_dir(uid), get)
            if containers.known(uid):
                return
            launches = []
            specs = {c.get("name"): c for c in (pod.get("spec") or {}).get("containers") or []}
            for name in names:
                container = specs[name]
                mounted = [
                    volumes[m["name"]]
                    for m in container.get("volumeMounts") or []
                    if isinstance(m, dict) and m.get("name") in volumes
                ]
                launches.append(
                    Launch(
                        namespace=namespace,
                        pod=meta["name"],
                        uid=uid,
                        container=name,
                        image=str(container.get("image", "")),
                        ip=ip,
                        ports=tuple(_tcp_ports(pod, [name])),
                        env=podenv.environment(pod, container, ip, get),
                        mounts=tuple(path for path, secret in mounted if not secret),
                        secret_mounts=tuple(path for path, secret in mounted if secret),
                        readiness=container.get("readinessProbe"),
                        named_ports={
                            str(p["name"]): int(p["containerPort"])
                            for p in container.get("ports") or []
                            if isinstance(p, dict) and p.get("name") and p.get("containerPort")
                        },
                    )
                )
        except podenv.Missing as exc:
            self._waiting[uid] = (exc.reason, str(exc))
            return
        self._waiting.pop(uid, None)
        for launch in launches:
            containers.start(launch)

    def _forget_reads(self, key: Key) -> None:
        for pods in self._reads.values():
            pods.discard(key)
        for read in [r for r, pods in self._reads.items() if not pods]:
            del self._reads[read]

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


def _tcp_ports(pod: Obj, names: list[str]) -> list[int]:
    """The TCP ports the named containers of ``pod`` declare."""
    return [
        int(port["containerPort"])
        for container in (pod.get("spec") or {}).get("containers") or []
        if isinstance(container, dict) and container.get("name") in names
        for port in container.get("ports") or []
        if isinstance(port, dict)
        and isinstance(port.get("containerPort"), int)
        and port.get("protocol", "TCP") == "TCP"
    ]
