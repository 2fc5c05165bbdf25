"""The cells of the built-in kinds that take more than reading one field.

Each function computes one cell (or, for an Event, the times several cells share) from a
:class:`~local.sim.tables.columns.Row`, as the real server's printers do. Which column shows
which cell, and in what order, is the column table's business (``builtin``), not this module's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from local.sim.tables.columns import Row
from local.sim.tables.durations import human_duration, parse_time, since
from local.sim.tables.fields import as_int, as_list, condition_true, dig, mapping, meta

# --------------------------------------------------------------------------- workloads


def _containers(pod_spec: Any) -> list[Mapping[str, Any]]:
    return [c for c in as_list(dig(pod_spec, "containers")) if isinstance(c, Mapping)]


def container_names(row: Row) -> str:
    containers = _containers(dig(row.obj, "spec", "template", "spec"))
    return ",".join(str(c.get("name", "")) for c in containers)


def container_images(row: Row) -> str:
    containers = _containers(dig(row.obj, "spec", "template", "spec"))
    return ",".join(str(c.get("image", "")) for c in containers)


def selector_text(row: Row) -> str:
    """``metav1.LabelSelectorAsSelector(...).String()`` of ``spec.selector``."""
    selector = dig(row.obj, "spec", "selector")
    if not isinstance(selector, Mapping):
        return ""
    requirements: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        requirements.append((key, f"{key}={value}"))
    for expression in as_list(selector.get("matchExpressions")):
        key = str(expression.get("key", ""))
        operator = expression.get("operator")
        values = ",".join(sorted(str(v) for v in as_list(expression.get("values"))))
        if operator == "In":
            requirements.append((key, f"{key} in ({values})"))
        elif operator == "NotIn":
            requirements.append((key, f"{key} notin ({values})"))
        elif operator == "Exists":
            requirements.append((key, key))
        elif operator == "DoesNotExist":
            requirements.append((key, f"!{key}"))
    return ",".join(text for _, text in sorted(requirements, key=lambda r: r[0]))


def deployment_ready(row: Row) -> str:
    ready = as_int(dig(row.obj, "status", "readyReplicas"))
    return f"{ready}/{as_int(dig(row.obj, 'spec', 'replicas'), 1)}"


def job_completions(row: Row) -> str:
    succeeded = as_int(dig(row.obj, "status", "succeeded"))
    completions = dig(row.obj, "spec", "completions")
    parallelism = as_int(dig(row.obj, "spec", "parallelism"))
    if isinstance(completions, int):
        return f"{succeeded}/{completions}"
    if parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def job_duration(row: Row) -> str:
    started = parse_time(dig(row.obj, "status", "startTime"))
    finished = parse_time(dig(row.obj, "status", "completionTime"))
    if started is None:
        return ""
    return human_duration((finished if finished is not None else row.now) - started)


def job_state(row: Row) -> str:
    conditions = dig(row.obj, "status", "conditions")
    if condition_true(conditions, "Complete"):
        return "Complete"
    if condition_true(conditions, "Failed"):
        return "Failed"
    if meta(row.obj).get("deletionTimestamp") is not None:
        return "Terminating"
    for state in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if condition_true(conditions, state):
            return state
    return "Running"


# --------------------------------------------------------------------------- networking


def load_balancer_text(row: Row) -> str:
    entries = as_list(dig(row.obj, "status", "loadBalancer", "ingress"))
    found = [e.get("ip") or e.get("hostname") for e in entries if isinstance(e, Mapping)]
    return ",".join(str(f) for f in found if f)


def service_type(row: Row) -> str:
    return str(dig(row.obj, "spec", "type") or "ClusterIP")


def cluster_ip(row: Row) -> Any:
    spec = mapping(row.obj.get("spec"))
    cluster_ips = as_list(spec.get("clusterIPs")) or [spec.get("clusterIP")]
    return cluster_ips[0] or "<none>"


def external_ip(row: Row) -> str:
    spec = mapping(row.obj.get("spec"))
    exposed = service_type(row)
    external_ips = [str(ip) for ip in as_list(spec.get("externalIPs"))]
    if exposed in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) or "<none>"
    if exposed == "LoadBalancer":
        balancer = load_balancer_text(row)
        return ",".join([*filter(None, balancer.split(",")), *external_ips]) or "<pending>"
    if exposed == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"


def service_ports(row: Row) -> str:
    ports = []
    for port in as_list(dig(row.obj, "spec", "ports")):
        protocol = port.get("protocol") or "TCP"
        node_port = as_int(port.get("nodePort"))
        number = as_int(port.get("port"))
        ports.append(f"{number}:{node_port}/{protocol}" if node_port else f"{number}/{protocol}")
    return ",".join(ports) or "<none>"


def labels_text(row: Row) -> str:
    """``labels.FormatLabels`` of ``spec.selector``: ``k=v`` by key, ``<none>`` when empty."""
    labels = dig(row.obj, "spec", "selector")
    if not isinstance(labels, Mapping) or not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def ingress_hosts(row: Row) -> str:
    rules = [mapping(r) for r in as_list(dig(row.obj, "spec", "rules"))]
    hosts: list[str] = []
    more = False
    for rule in rules:  # formatHosts: at most three hosts, then "+ N more..."
        more = more or len(hosts) == 3
        if not more and rule.get("host"):
            hosts.append(str(rule["host"]))
    hosts_text = ",".join(hosts) or "*"
    if more and hosts:
        hosts_text = f"{hosts_text} + {len(rules) - 3} more..."
    return hosts_text


# --------------------------------------------------------------------------- configuration


def data_count(row: Row) -> int:
    return len(row.obj.get("data") or {}) + len(row.obj.get("binaryData") or {})


def secret_keys(row: Row) -> int:
    return len(set(row.obj.get("data") or {}) | set(row.obj.get("stringData") or {}))


# --------------------------------------------------------------------------- events


def _event_times(row: Row) -> tuple[str, str, int]:
    """An Event's first seen, last seen and count, from its series when it has one."""
    obj, now = row.obj, row.now
    first_seen = since(obj.get("firstTimestamp"), now)
    if parse_time(obj.get("firstTimestamp")) is None:
        first_seen = since(obj.get("eventTime"), now)
    last_seen = first_seen
    if parse_time(obj.get("lastTimestamp")) is not None:
        last_seen = since(obj.get("lastTimestamp"), now)
    count = as_int(obj.get("count"))
    series = obj.get("series")
    if isinstance(series, Mapping):
        last_seen = since(series.get("lastObservedTime"), now)
        count = as_int(series.get("count"))
    elif count == 0:
        count = 1
    return first_seen, last_seen, count


def event_first_seen(row: Row) -> str:
    return row.derived(_event_times)[0]


def event_last_seen(row: Row) -> str:
    return row.derived(_event_times)[1]


def event_count(row: Row) -> int:
    return row.derived(_event_times)[2]


def event_object(row: Row) -> str:
    involved = mapping(row.obj.get("involvedObject"))
    kind = str(involved.get("kind", "")).lower()
    return f"{kind}/{involved['name']}" if involved.get("name") else kind


def event_source(row: Row) -> Any:
    source = mapping(row.obj.get("source"))
    component = source.get("component") or row.obj.get("reportingComponent") or ""
    instance = source.get("host") or row.obj.get("reportingInstance") or ""
    return f"{component}, {instance}" if instance else component
