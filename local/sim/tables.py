"""Server-side printing: the ``meta.k8s.io/v1`` ``Table`` that ``kubectl get`` asks for.

kubectl sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints what comes
back; it computes no columns itself. This module builds that Table: for custom resources from
the CRD version's ``additionalPrinterColumns`` (selected with ``shared.jsonpath``), for
a few built-in kinds with the columns the real server's printers give, and NAME + AGE for
anything else. Like the real server it always fills every column, including the ``priority: 1``
ones that kubectl shows only with ``-o wide``.

Pure data: no I/O, no clock (the caller passes ``now``), no eval of paths or expressions.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared import jsonpath

# --------------------------------------------------------------------------- durations


def human_duration(seconds: float) -> str:
    """An age the way kubectl shows it (apimachinery ``duration.HumanDuration``)."""
    whole = int(seconds)  # truncates toward zero, as Go's int(d.Seconds()) does
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
)


def _parse_time(text: Any) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp, or None when it is not one."""
    if not isinstance(text, str):
        return None
    match = _RFC3339.match(text)
    if match is None:
        return None
    date, clock, fraction, zone = match.groups()
    fraction = (fraction or "")[:7]  # Python keeps microseconds; more digits change nothing
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{date}T{clock}{fraction}{zone}").timestamp()
    except ValueError:
        return None


def _since(timestamp: Any, now: float) -> str:
    """``translateTimestampSince``: the age of a timestamp, ``<unknown>`` when there is none."""
    moment = _parse_time(timestamp)
    if moment is None or timestamp.startswith("0001-01-01"):
        return "<unknown>"
    return human_duration(now - moment)


# --------------------------------------------------------------------------- cells


def _go_text(value: Any) -> str:
    """A JSON value printed as kubectl's JSONPath prints it (Go ``fmt.Print`` or JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, exponent form below 1e-4 and from 1e6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    number = Decimal(repr(value)).normalize()
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(str(d) for d in digits)
    power = len(text) - 1 + exponent
    if -4 <= power < 6:
        return format(number, "f")
    mantissa = text[0] + (f".{text[1:]}" if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"


def _custom_cell(column_type: str, value: Any, now: float) -> Any:
    """``cellForJSONValue`` of the apiextensions table convertor."""
    if value is None:
        return None
    if column_type == "string":
        return _go_text(value)
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if column_type == "integer":
        return int(value) if is_number and math.isfinite(value) else None
    if column_type == "number":
        return float(value) if is_number else None
    if column_type == "boolean":
        return value if isinstance(value, bool) else None
    if column_type == "date":
        if not isinstance(value, str):
            return None
        if value == "":
            return "<unknown>"
        return _since(value, now) if _parse_time(value) is not None else "<invalid>"
    return None


# --------------------------------------------------------------------------- columns

_NAME_DESCRIPTION = "Name of the object, unique within its namespace (metadata.name)."
_AGE_DESCRIPTION = "Time since the object was created (metadata.creationTimestamp)."


def _column(
    name: str,
    column_type: str = "string",
    description: str = "",
    *,
    fmt: str = "",
    priority: int = 0,
) -> dict[str, Any]:
    return {
        "name": name,
        "type": column_type,
        "format": fmt,
        "description": description,
        "priority": priority,
    }


def _name_column() -> dict[str, Any]:
    return _column("Name", "string", _NAME_DESCRIPTION, fmt="name")


def _age_column() -> dict[str, Any]:
    return _column("Age", "string", _AGE_DESCRIPTION)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(obj.get("metadata"))


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _name(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("name", ""))


def _age(obj: Mapping[str, Any], now: float) -> str:
    return _since(_meta(obj).get("creationTimestamp"), now)


# --------------------------------------------------------------------------- built-in kinds


@dataclass(frozen=True)
class _Printed:
    cells: list[Any]
    conditions: list[dict[str, str]] | None = None


@dataclass(frozen=True)
class _Printer:
    columns: tuple[dict[str, Any], ...]
    row: Callable[[Mapping[str, Any], float], _Printed]


def _containers_cells(pod_spec: Any) -> list[str]:
    containers = [c for c in _list(_dig(pod_spec, "containers")) if isinstance(c, Mapping)]
    names = ",".join(str(c.get("name", "")) for c in containers)
    images = ",".join(str(c.get("image", "")) for c in containers)
    return [names, images]


def _selector_text(selector: Any) -> str:
    """``metav1.LabelSelectorAsSelector(...).String()``."""
    if not isinstance(selector, Mapping):
        return ""
    requirements: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        requirements.append((key, f"{key}={value}"))
    for expression in _list(selector.get("matchExpressions")):
        key = str(expression.get("key", ""))
        operator = expression.get("operator")
        values = ",".join(sorted(str(v) for v in _list(expression.get("values"))))
        if operator == "In":
            requirements.append((key, f"{key} in ({values})"))
        elif operator == "NotIn":
            requirements.append((key, f"{key} notin ({values})"))
        elif operator == "Exists":
            requirements.append((key, key))
        elif operator == "DoesNotExist":
            requirements.append((key, f"!{key}"))
    return ",".join(text for _, text in sorted(requirements, key=lambda r: r[0]))


def _labels_text(labels: Any) -> str:
    """``labels.FormatLabels``: ``k=v`` sorted by key, ``<none>`` when empty."""
    if not isinstance(labels, Mapping) or not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def _wide_workload_columns() -> tuple[dict[str, Any], ...]:
    return (
        _column("Containers", "string", "Names of each container in the template.", priority=1),
        _column("Images", "string", "Images referenced by each container.", priority=1),
        _column("Selector", "string", "Label selector for the pods.", priority=1),
    )


def _workload_wide_cells(obj: Mapping[str, Any]) -> list[Any]:
    spec = obj.get("spec")
    pod_spec = _dig(spec, "template", "spec")
    return [*_containers_cells(pod_spec), _selector_text(_dig(spec, "selector"))]


def _condition_true(conditions: Any, condition_type: str) -> bool:
    return any(
        isinstance(c, Mapping) and c.get("type") == condition_type and c.get("status") == "True"
        for c in _list(conditions)
    )


def _pod_row(pod: Mapping[str, Any], now: float) -> _Printed:
    spec = _mapping(pod.get("spec"))
    status = _mapping(pod.get("status"))
    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    for condition in _list(status.get("conditions")):
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = {
        c.get("name"): c for c in _list(spec.get("initContainers")) if isinstance(c, Mapping)
    }
    sidecars = {n for n, c in init_specs.items() if c.get("restartPolicy") == "Always"}
    total = len(_list(spec.get("containers"))) + len(sidecars)
    ready = 0
    restarts = 0
    sidecar_restarts = 0
    last_restart: float | None = None
    sidecar_last_restart: float | None = None

    def later(current: float | None, state: Any) -> float | None:
        finished = _parse_time(_dig(state, "terminated", "finishedAt"))
        if finished is None:
            return current
        return finished if current is None else max(current, finished)

    initializing = False
    init_statuses = _list(status.get("initContainerStatuses"))
    for i, container in enumerate(init_statuses):
        restarts += _int(container.get("restartCount"))
        last_restart = later(last_restart, container.get("lastState"))
        is_sidecar = container.get("name") in sidecars
        if is_sidecar:
            sidecar_restarts += _int(container.get("restartCount"))
            sidecar_last_restart = later(sidecar_last_restart, container.get("lastState"))
        terminated = _dig(container, "state", "terminated")
        waiting_reason = _dig(container, "state", "waiting", "reason")
        if isinstance(terminated, Mapping) and _int(terminated.get("exitCode")) == 0:
            continue
        if is_sidecar and container.get("started") is True:
            ready += 1 if container.get("ready") is True else 0
            continue
        if isinstance(terminated, Mapping):
            if terminated.get("reason"):
                reason = f"Init:{terminated['reason']}"
            elif _int(terminated.get("signal")):
                reason = f"Init:Signal:{_int(terminated.get('signal'))}"
            else:
                reason = f"Init:ExitCode:{_int(terminated.get('exitCode'))}"
        elif waiting_reason and waiting_reason != "PodInitializing":
            reason = f"Init:{waiting_reason}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(status.get("conditions"), "Initialized"):
        restarts = sidecar_restarts
        last_restart = sidecar_last_restart
        has_running = False
        for container in reversed(_list(status.get("containerStatuses"))):
            restarts += _int(container.get("restartCount"))
            last_restart = later(last_restart, container.get("lastState"))
            state = _mapping(container.get("state"))
            waiting = _dig(state, "waiting")
            terminated = _dig(state, "terminated")
            if isinstance(waiting, Mapping) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(terminated, Mapping) and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif isinstance(terminated, Mapping):
                signal = _int(terminated.get("signal"))
                exit_code = _int(terminated.get("exitCode"))
                reason = f"Signal:{signal}" if signal else f"ExitCode:{exit_code}"
            elif container.get("ready") is True and isinstance(_dig(state, "running"), Mapping):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            ready_condition = _condition_true(status.get("conditions"), "Ready")
            reason = "Running" if ready_condition else "NotReady"

    deleting = _meta(pod).get("deletionTimestamp") is not None
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"

    pod_ips = [p.get("ip") for p in _list(status.get("podIPs")) if isinstance(p, Mapping)]
    pod_ip = (pod_ips[0] if pod_ips else status.get("podIP")) or "<none>"
    gates = _list(spec.get("readinessGates"))
    gates_text = "<none>"
    if gates:
        true_gates = sum(
            1 for g in gates if _condition_true(status.get("conditions"), g.get("conditionType"))
        )
        gates_text = f"{true_gates}/{len(gates)}"

    conditions = None
    if phase == "Succeeded":
        conditions = [_completed("Succeeded", "The pod has completed successfully.")]
    elif phase == "Failed":
        conditions = [_completed("Failed", "The pod failed.")]
    cells = [
        _name(pod),
        f"{ready}/{total}",
        reason,
        restarts_text,
        _age(pod, now),
        pod_ip,
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_text,
    ]
    return _Printed(cells, conditions)


def _completed(reason: str, message: str) -> dict[str, str]:
    return {"type": "Completed", "status": "True", "reason": reason, "message": message}


def _deployment_row(obj: Mapping[str, Any], now: float) -> _Printed:
    desired = _int(_dig(obj, "spec", "replicas"), 1)
    status = obj.get("status")
    ready = _int(_dig(status, "readyReplicas"))
    cells = [
        _name(obj),
        f"{ready}/{desired}",
        _int(_dig(status, "updatedReplicas")),
        _int(_dig(status, "availableReplicas")),
        _age(obj, now),
        *_workload_wide_cells(obj),
    ]
    return _Printed(cells)


def _replicaset_row(obj: Mapping[str, Any], now: float) -> _Printed:
    status = obj.get("status")
    cells = [
        _name(obj),
        _int(_dig(obj, "spec", "replicas"), 1),
        _int(_dig(status, "replicas")),
        _int(_dig(status, "readyReplicas")),
        _age(obj, now),
        *_workload_wide_cells(obj),
    ]
    return _Printed(cells)


def _load_balancer_text(status: Any) -> str:
    entries = _list(_dig(status, "loadBalancer", "ingress"))
    found = [e.get("ip") or e.get("hostname") for e in entries if isinstance(e, Mapping)]
    return ",".join(str(f) for f in found if f)


def _service_row(obj: Mapping[str, Any], now: float) -> _Printed:
    spec = _mapping(obj.get("spec"))
    service_type = str(spec.get("type") or "ClusterIP")
    cluster_ips = _list(spec.get("clusterIPs")) or [spec.get("clusterIP")]
    cluster_ip = cluster_ips[0] or "<none>"
    external_ips = [str(ip) for ip in _list(spec.get("externalIPs"))]
    if service_type in ("ClusterIP", "NodePort"):
        external = ",".join(external_ips) or "<none>"
    elif service_type == "LoadBalancer":
        balancer = _load_balancer_text(obj.get("status"))
        external = ",".join([*filter(None, balancer.split(",")), *external_ips]) or "<pending>"
    elif service_type == "ExternalName":
        external = str(spec.get("externalName") or "")
    else:
        external = "<unknown>"
    ports = []
    for port in _list(spec.get("ports")):
        protocol = port.get("protocol") or "TCP"
        node_port = _int(port.get("nodePort"))
        number = _int(port.get("port"))
        ports.append(f"{number}:{node_port}/{protocol}" if node_port else f"{number}/{protocol}")
    cells = [
        _name(obj),
        service_type,
        cluster_ip,
        external,
        ",".join(ports) or "<none>",
        _age(obj, now),
        _labels_text(spec.get("selector")),
    ]
    return _Printed(cells)


def _job_row(obj: Mapping[str, Any], now: float) -> _Printed:
    spec = obj.get("spec")
    status = obj.get("status")
    succeeded = _int(_dig(status, "succeeded"))
    completions = _dig(spec, "completions")
    parallelism = _int(_dig(spec, "parallelism"))
    if isinstance(completions, int):
        completions_text = f"{succeeded}/{completions}"
    elif parallelism > 1:
        completions_text = f"{succeeded}/1 of {parallelism}"
    else:
        completions_text = f"{succeeded}/1"
    started = _parse_time(_dig(status, "startTime"))
    finished = _parse_time(_dig(status, "completionTime"))
    duration = ""
    if started is not None:
        duration = human_duration((finished if finished is not None else now) - started)
    conditions = _dig(status, "conditions")
    if _condition_true(conditions, "Complete"):
        state = "Complete"
    elif _condition_true(conditions, "Failed"):
        state = "Failed"
    elif _meta(obj).get("deletionTimestamp") is not None:
        state = "Terminating"
    elif _condition_true(conditions, "Suspended"):
        state = "Suspended"
    elif _condition_true(conditions, "FailureTarget"):
        state = "FailureTarget"
    elif _condition_true(conditions, "SuccessCriteriaMet"):
        state = "SuccessCriteriaMet"
    else:
        state = "Running"
    cells = [
        _name(obj),
        state,
        completions_text,
        duration,
        _age(obj, now),
        *_workload_wide_cells(obj),
    ]
    return _Printed(cells)


def _ingress_row(obj: Mapping[str, Any], now: float) -> _Printed:
    spec = obj.get("spec")
    rules = [_mapping(r) for r in _list(_dig(spec, "rules"))]
    hosts: list[str] = []
    more = False
    for rule in rules:  # formatHosts: at most three hosts, then "+ N more..."
        more = more or len(hosts) == 3
        if not more and rule.get("host"):
            hosts.append(str(rule["host"]))
    hosts_text = ",".join(hosts) or "*"
    if more and hosts:
        hosts_text = f"{hosts_text} + {len(rules) - 3} more..."
    cells = [
        _name(obj),
        _dig(spec, "ingressClassName") or "<none>",
        hosts_text,
        _load_balancer_text(obj.get("status")),
        "80, 443" if _list(_dig(spec, "tls")) else "80",
        _age(obj, now),
    ]
    return _Printed(cells)


def _configmap_row(obj: Mapping[str, Any], now: float) -> _Printed:
    count = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return _Printed([_name(obj), count, _age(obj, now)])


def _secret_row(obj: Mapping[str, Any], now: float) -> _Printed:
    keys = set(obj.get("data") or {}) | set(obj.get("stringData") or {})
    return _Printed([_name(obj), str(obj.get("type") or "Opaque"), len(keys), _age(obj, now)])


def _namespace_row(obj: Mapping[str, Any], now: float) -> _Printed:
    phase = _dig(obj, "status", "phase") or "Active"
    return _Printed([_name(obj), str(phase), _age(obj, now)])


def _event_row(obj: Mapping[str, Any], now: float) -> _Printed:
    first_seen = _since(obj.get("firstTimestamp"), now)
    if _parse_time(obj.get("firstTimestamp")) is None:
        first_seen = _since(obj.get("eventTime"), now)
    last_seen = first_seen
    if _parse_time(obj.get("lastTimestamp")) is not None:
        last_seen = _since(obj.get("lastTimestamp"), now)
    count = _int(obj.get("count"))
    series = obj.get("series")
    if isinstance(series, Mapping):
        last_seen = _since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1
    involved = _mapping(obj.get("involvedObject"))
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = _mapping(obj.get("source"))
    component = source.get("component") or obj.get("reportingComponent") or ""
    instance = source.get("host") or obj.get("reportingInstance") or ""
    cells = [
        last_seen,
        obj.get("type", ""),
        obj.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        str(obj.get("message", "")).strip(),
        first_seen,
        count,
        _name(obj),
    ]
    return _Printed(cells)


def _default_row(obj: Mapping[str, Any], now: float) -> _Printed:
    return _Printed([_name(obj), _age(obj, now)])


_DEFAULT_PRINTER = _Printer((_name_column(), _age_column()), _default_row)

_PRINTERS: dict[str, _Printer] = {
    "Pod": _Printer(
        (
            _name_column(),
            _column("Ready", "string", "Ready containers out of all containers."),
            _column("Status", "string", "The aggregate state of the containers in this pod."),
            _column("Restarts", "string", "Container restarts, and how long ago the last was."),
            _age_column(),
            _column("IP", "string", "IP address allocated to the pod.", priority=1),
            _column("Node", "string", "Name of the node the pod is bound to.", priority=1),
            _column("Nominated Node", "string", "Node nominated for preemption.", priority=1),
            _column("Readiness Gates", "string", "Readiness gates that are true.", priority=1),
        ),
        _pod_row,
    ),
    "Deployment": _Printer(
        (
            _name_column(),
            _column("Ready", "string", "Ready replicas out of desired replicas."),
            _column("Up-to-date", "integer", "Replicas running the latest template."),
            _column("Available", "integer", "Replicas available to users."),
            _age_column(),
            *_wide_workload_columns(),
        ),
        _deployment_row,
    ),
    "ReplicaSet": _Printer(
        (
            _name_column(),
            _column("Desired", "integer", "Number of desired replicas."),
            _column("Current", "integer", "Number of created replicas."),
            _column("Ready", "integer", "Number of ready replicas."),
            _age_column(),
            *_wide_workload_columns(),
        ),
        _replicaset_row,
    ),
    "Service": _Printer(
        (
            _name_column(),
            _column("Type", "string", "How the service is exposed."),
            _column("Cluster-IP", "string", "The cluster-internal IP address."),
            _column("External-IP", "string", "External addresses of the service."),
            _column("Port(s)", "string", "Ports exposed by the service."),
            _age_column(),
            _column("Selector", "string", "Pods this service routes to.", priority=1),
        ),
        _service_row,
    ),
    "Job": _Printer(
        (
            _name_column(),
            _column("Status", "string", "The state of the job."),
            _column("Completions", "string", "Succeeded pods out of desired completions."),
            _column("Duration", "string", "Time the job took, or has taken so far."),
            _age_column(),
            *_wide_workload_columns(),
        ),
        _job_row,
    ),
    "Ingress": _Printer(
        (
            _name_column(),
            _column("Class", "string", "The ingress class name."),
            _column("Hosts", "string", "Hosts the rules match."),
            _column("Address", "string", "Addresses of the load balancer."),
            _column("Ports", "string", "Ports served."),
            _age_column(),
        ),
        _ingress_row,
    ),
    "ConfigMap": _Printer(
        (_name_column(), _column("Data", "integer", "Number of keys."), _age_column()),
        _configmap_row,
    ),
    "Secret": _Printer(
        (
            _name_column(),
            _column("Type", "string", "The type of the secret."),
            _column("Data", "integer", "Number of keys."),
            _age_column(),
        ),
        _secret_row,
    ),
    "Namespace": _Printer(
        (_name_column(), _column("Status", "string", "The namespace's phase."), _age_column()),
        _namespace_row,
    ),
    "Event": _Printer(
        (
            _column("Last Seen", "string", "Time since the event was last seen."),
            _column("Type", "string", "Normal or Warning."),
            _column("Reason", "string", "Why the event happened, in CamelCase."),
            _column("Object", "string", "The object the event is about."),
            _column("Subobject", "string", "The part of the object.", priority=1),
            _column("Source", "string", "Who reported the event.", priority=1),
            _column("Message", "string", "What happened."),
            _column("First Seen", "string", "Time since the event was first seen.", priority=1),
            _column("Count", "integer", "How many times it happened.", priority=1),
            _column("Name", "string", "Name of the event object.", priority=1),
        ),
        _event_row,
    ),
}


# --------------------------------------------------------------------------- custom resources

_AGE_PRINTER_COLUMN: Mapping[str, Any] = {
    "name": "Age",
    "type": "date",
    "jsonPath": ".metadata.creationTimestamp",
    "description": _AGE_DESCRIPTION,
}


def _custom_printer(printer_columns: Sequence[Mapping[str, Any]]) -> _Printer:
    """Name plus the CRD's ``additionalPrinterColumns`` (just Age when it lists none)."""
    specs = list(printer_columns) or [_AGE_PRINTER_COLUMN]
    paths = [jsonpath.parse(str(spec.get("jsonPath", ""))) for spec in specs]
    columns = [_name_column()]
    for spec in specs:
        description = spec.get("description") or (
            f"Custom resource definition column (in JSONPath format): {spec.get('jsonPath')}"
        )
        columns.append(
            _column(
                str(spec.get("name", "")),
                str(spec.get("type", "string")),
                str(description),
                fmt=str(spec.get("format", "")),
                priority=_int(spec.get("priority")),
            )
        )

    def row(obj: Mapping[str, Any], now: float) -> _Printed:
        cells: list[Any] = [_name(obj)]
        for spec, path in zip(specs, paths, strict=True):
            found = path.select(obj)
            value = found[0] if found else None
            cells.append(_custom_cell(str(spec.get("type", "string")), value, now))
        return _Printed(cells)

    return _Printer(tuple(columns), row)


# --------------------------------------------------------------------------- the table

_LIST_META_KEYS = ("resourceVersion", "continue", "remainingItemCount", "selfLink")


def to_table(
    kind: str,
    objects: Sequence[Mapping[str, Any]],
    *,
    printer_columns: Sequence[Mapping[str, Any]] | None,
    now: float,
    include_object: str = "Metadata",
    list_metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``meta.k8s.io/v1`` Table for ``objects`` of one kind.

    ``printer_columns`` is the CRD version's ``additionalPrinterColumns`` for a custom resource
    (an empty sequence when the CRD lists none: then Name and Age), and None for a built-in
    kind, which gets its kubectl columns (or Name and Age when this module knows none).
    ``include_object`` is the ``includeObject`` parameter: ``Metadata`` (rows carry a
    ``PartialObjectMetadata``), ``Object`` (the whole object) or ``None``. ``now`` is epoch
    seconds, for ages. Raises ValueError for an unsupported column JSONPath or includeObject.
    """
    if include_object not in ("Metadata", "Object", "None"):
        raise ValueError(f"includeObject must be Metadata, Object or None, not {include_object!r}")
    if printer_columns is not None:
        printer = _custom_printer(printer_columns)
    else:
        printer = _PRINTERS.get(kind, _DEFAULT_PRINTER)
    rows = []
    for obj in objects:
        printed = printer.row(obj, now)
        row: dict[str, Any] = {"cells": printed.cells}
        if printed.conditions:
            row["conditions"] = printed.conditions
        if include_object == "Metadata":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": dict(_meta(obj)),
            }
        elif include_object == "Object":
            row["object"] = obj
        rows.append(row)
    metadata = {k: v for k, v in (list_metadata or {}).items() if k in _LIST_META_KEYS}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [dict(c) for c in printer.columns],
        "rows": rows,
    }
