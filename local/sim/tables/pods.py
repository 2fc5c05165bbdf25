"""The Pod's columns: readiness, status reason, restarts and the ``-o wide`` placement cells.

The Status column is what ``kubectl get pods`` is read for, so this module follows the real
server's ``printPod`` closely: init containers (sidecars included), waiting and terminated
reasons, ``Terminating`` and ``NodeLost``, restarts with the age of the last one. It only
derives cells from a Pod as stored; it never judges what the Pod should be doing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.sim.tables.columns import AGE, NAME, Column, Printer, Row, or_none
from local.sim.tables.durations import human_duration, parse_time
from local.sim.tables.fields import as_int, as_list, condition_true, dig, mapping, meta


@dataclass(frozen=True)
class _Summary:
    """The cells of ``printPod`` that come out of one pass over the container statuses."""

    ready: str
    reason: str
    restarts: str


def _later(current: float | None, state: Any) -> float | None:
    finished = parse_time(dig(state, "terminated", "finishedAt"))
    if finished is None:
        return current
    return finished if current is None else max(current, finished)


def _summary(row: Row) -> _Summary:
    pod, now = row.obj, row.now
    spec = mapping(pod.get("spec"))
    status = mapping(pod.get("status"))
    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    for condition in as_list(status.get("conditions")):
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = {
        c.get("name"): c for c in as_list(spec.get("initContainers")) if isinstance(c, Mapping)
    }
    sidecars = {n for n, c in init_specs.items() if c.get("restartPolicy") == "Always"}
    total = len(as_list(spec.get("containers"))) + len(sidecars)
    ready = 0
    restarts = 0
    sidecar_restarts = 0
    last_restart: float | None = None
    sidecar_last_restart: float | None = None

    initializing = False
    init_statuses = as_list(status.get("initContainerStatuses"))
    for i, container in enumerate(init_statuses):
        restarts += as_int(container.get("restartCount"))
        last_restart = _later(last_restart, container.get("lastState"))
        is_sidecar = container.get("name") in sidecars
        if is_sidecar:
            sidecar_restarts += as_int(container.get("restartCount"))
            sidecar_last_restart = _later(sidecar_last_restart, container.get("lastState"))
        terminated = dig(container, "state", "terminated")
        waiting_reason = dig(container, "state", "waiting", "reason")
        if isinstance(terminated, Mapping) and as_int(terminated.get("exitCode")) == 0:
            continue
        if is_sidecar and container.get("started") is True:
            ready += 1 if container.get("ready") is True else 0
            continue
        if isinstance(terminated, Mapping):
            if terminated.get("reason"):
                reason = f"Init:{terminated['reason']}"
            elif as_int(terminated.get("signal")):
                reason = f"Init:Signal:{as_int(terminated.get('signal'))}"
            else:
                reason = f"Init:ExitCode:{as_int(terminated.get('exitCode'))}"
        elif waiting_reason and waiting_reason != "PodInitializing":
            reason = f"Init:{waiting_reason}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or condition_true(status.get("conditions"), "Initialized"):
        restarts = sidecar_restarts
        last_restart = sidecar_last_restart
        has_running = False
        for container in reversed(as_list(status.get("containerStatuses"))):
            restarts += as_int(container.get("restartCount"))
            last_restart = _later(last_restart, container.get("lastState"))
            state = mapping(container.get("state"))
            waiting = dig(state, "waiting")
            terminated = dig(state, "terminated")
            if isinstance(waiting, Mapping) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(terminated, Mapping) and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif isinstance(terminated, Mapping):
                signal = as_int(terminated.get("signal"))
                exit_code = as_int(terminated.get("exitCode"))
                reason = f"Signal:{signal}" if signal else f"ExitCode:{exit_code}"
            elif container.get("ready") is True and isinstance(dig(state, "running"), Mapping):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            ready_condition = condition_true(status.get("conditions"), "Ready")
            reason = "Running" if ready_condition else "NotReady"

    deleting = meta(pod).get("deletionTimestamp") is not None
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"
    return _Summary(f"{ready}/{total}", reason, restarts_text)


def _ip(row: Row) -> Any:
    status = mapping(row.obj.get("status"))
    pod_ips = [p.get("ip") for p in as_list(status.get("podIPs")) if isinstance(p, Mapping)]
    return (pod_ips[0] if pod_ips else status.get("podIP")) or "<none>"


def _readiness_gates(row: Row) -> str:
    gates = as_list(dig(row.obj, "spec", "readinessGates"))
    if not gates:
        return "<none>"
    conditions = dig(row.obj, "status", "conditions")
    true_gates = sum(1 for g in gates if condition_true(conditions, g.get("conditionType")))
    return f"{true_gates}/{len(gates)}"


def _completed(reason: str, message: str) -> dict[str, str]:
    return {"type": "Completed", "status": "True", "reason": reason, "message": message}


def _conditions(row: Row) -> list[dict[str, str]] | None:
    phase = str(dig(row.obj, "status", "phase") or "")
    if phase == "Succeeded":
        return [_completed("Succeeded", "The pod has completed successfully.")]
    if phase == "Failed":
        return [_completed("Failed", "The pod failed.")]
    return None


POD = Printer(
    (
        NAME,
        Column(
            "Ready",
            "string",
            "Ready containers out of all containers.",
            lambda row: row.derived(_summary).ready,
        ),
        Column(
            "Status",
            "string",
            "The aggregate state of the containers in this pod.",
            lambda row: row.derived(_summary).reason,
        ),
        Column(
            "Restarts",
            "string",
            "Container restarts, and how long ago the last was.",
            lambda row: row.derived(_summary).restarts,
        ),
        AGE,
        Column("IP", "string", "IP address allocated to the pod.", _ip, priority=1),
        Column(
            "Node",
            "string",
            "Name of the node the pod is bound to.",
            or_none("spec", "nodeName"),
            priority=1,
        ),
        Column(
            "Nominated Node",
            "string",
            "Node nominated for preemption.",
            or_none("status", "nominatedNodeName"),
            priority=1,
        ),
        Column(
            "Readiness Gates",
            "string",
            "Readiness gates that are true.",
            _readiness_gates,
            priority=1,
        ),
    ),
    _conditions,
)
"""The Pod's printer (``printPod``)."""
