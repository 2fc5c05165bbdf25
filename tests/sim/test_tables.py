"""Server-side printing: the meta.k8s.io/v1 Table kubectl asks for.

Covers human_duration against Kubernetes' HumanDuration rules, Tables for custom resources
from the real Knative CRDs' additionalPrinterColumns (including the Name+Age default, each
column type and a refused column path), the built-in printers' columns and cells, and the
Table envelope: includeObject modes, list metadata, column definitions. The JSONPath subset
itself is covered in tests/shared/test_jsonpath.py.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from local.sim import tables

REPO_ROOT = Path(__file__).resolve().parents[2]
KNATIVE = REPO_ROOT.parent / "shared" / "schemas" / "knative"

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
CREATED = "2025-12-31T23:55:00Z"  # five minutes before NOW


@functools.cache
def _printer_columns(name: str) -> list[dict[str, Any]]:
    crd = yaml.safe_load((KNATIVE / f"{name}.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    columns = version.get("additionalPrinterColumns", [])
    assert isinstance(columns, list)
    return columns


def _meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": CREATED, **extra}


def _cells(kind: str, obj: dict[str, Any]) -> list[Any]:
    table = tables.to_table(kind, [obj], printer_columns=None, now=NOW)
    cells = table["rows"][0]["cells"]
    assert len(cells) == len(table["columnDefinitions"])
    assert isinstance(cells, list)
    return cells


def _names(table: dict[str, Any]) -> list[str]:
    return [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-5, "<invalid>"),
        (-1.5, "0s"),
        (0, "0s"),
        (5.9, "5s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (7 * 3600 + 5 * 60, "7h5m"),
        (8 * 3600 + 5 * 60, "8h"),
        (47 * 3600, "47h"),
        (2 * 86400, "2d"),
        (2 * 86400 + 4 * 3600, "2d4h"),
        (7 * 86400 + 12 * 3600, "7d12h"),
        (7 * 86400, "7d"),
        (8 * 86400 + 4 * 3600, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400 + 86400, "8y"),
    ],
)
def test_human_duration_follows_kubernetes(seconds: float, shown: str) -> None:
    assert tables.human_duration(seconds) == shown


# --------------------------------------------------------------------------- custom resources


def _trigger(ready: str | None) -> dict[str, Any]:
    status: dict[str, Any] = {"subscriberUri": "http://f.default.svc"}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready, "reason": "Because"}]
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": _meta("on-promote", resourceVersion="7", labels={"a": "b"}),
        "spec": {"broker": "default"},
        "status": status,
    }


def test_trigger_table_uses_the_crds_printer_columns() -> None:
    table = tables.to_table(
        "Trigger",
        [_trigger("True"), _trigger(None)],
        printer_columns=_printer_columns("eventing-trigger"),
        now=NOW,
    )
    assert _names(table) == ["Name", "Broker", "Subscriber_URI", "Age", "Ready", "Reason"]
    assert [c["type"] for c in table["columnDefinitions"]] == [
        "string",
        "string",
        "string",
        "date",
        "string",
        "string",
    ]
    assert [row["cells"] for row in table["rows"]] == [
        ["on-promote", "default", "http://f.default.svc", "5m", "True", "Because"],
        ["on-promote", "default", "http://f.default.svc", "5m", None, None],
    ]


def test_broker_class_column_reads_an_annotation_through_escaped_dots() -> None:
    broker = {
        "metadata": _meta(
            "default", annotations={"eventing.knative.dev/broker.class": "MTChannelBasedBroker"}
        ),
        "status": {"address": {"url": "http://broker-ingress"}},
    }
    table = tables.to_table(
        "Broker", [broker], printer_columns=_printer_columns("eventing-broker"), now=NOW
    )
    (class_column,) = [c for c in table["columnDefinitions"] if c["name"] == "Class"]
    assert class_column["priority"] == 1
    assert table["rows"][0]["cells"] == [
        "default",
        "http://broker-ingress",
        "5m",
        None,
        None,
        "MTChannelBasedBroker",
    ]


def test_knative_service_columns_have_no_age() -> None:
    service = {
        "metadata": _meta("promote"),
        "status": {
            "url": "http://promote.default.example.com",
            "latestCreatedRevisionName": "promote-00002",
            "latestReadyRevisionName": "promote-00001",
            "conditions": [{"type": "Ready", "status": "Unknown", "reason": "Deploying"}],
        },
    }
    table = tables.to_table(
        "Service", [service], printer_columns=_printer_columns("serving-service"), now=NOW
    )
    assert _names(table) == ["Name", "URL", "LatestCreated", "LatestReady", "Ready", "Reason"]
    assert table["rows"][0]["cells"] == [
        "promote",
        "http://promote.default.example.com",
        "promote-00002",
        "promote-00001",
        "Unknown",
        "Deploying",
    ]


def test_a_crd_without_printer_columns_shows_name_and_age() -> None:
    table = tables.to_table("Rollout", [{"metadata": _meta("web")}], printer_columns=[], now=NOW)
    assert table["columnDefinitions"][0] == {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": table["columnDefinitions"][0]["description"],
        "priority": 0,
    }
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [
        ("Name", "string"),
        ("Age", "date"),
    ]
    assert table["rows"][0]["cells"] == ["web", "5m"]


COLUMNS = [
    {"name": "Int", "type": "integer", "jsonPath": ".v"},
    {"name": "Num", "type": "number", "jsonPath": ".v"},
    {"name": "Bool", "type": "boolean", "jsonPath": ".v"},
    {"name": "Str", "type": "string", "jsonPath": ".v"},
    {"name": "Date", "type": "date", "jsonPath": ".v"},
]


@pytest.mark.parametrize(
    ("value", "cells"),
    [
        (3, [3, 3.0, None, "3", None]),
        (2.7, [2, 2.7, None, "2.7", None]),
        (1e6, [1000000, 1e6, None, "1e+06", None]),
        (True, [None, None, True, "true", None]),
        ("2025-12-31T23:59:50Z", [None, None, None, "2025-12-31T23:59:50Z", "10s"]),
        ("soon", [None, None, None, "soon", "<invalid>"]),
        ("", [None, None, None, "", "<unknown>"]),
        ({"b": 1, "a": [1]}, [None, None, None, '{"a":[1],"b":1}', None]),
        (None, [None, None, None, None, None]),
    ],
)
def test_printer_column_types_render_like_the_apiserver(value: Any, cells: list[Any]) -> None:
    obj = {"metadata": {"name": "x"}, "v": value}
    table = tables.to_table("X", [obj], printer_columns=COLUMNS, now=NOW)
    assert table["rows"][0]["cells"] == ["x", *cells]


def test_printer_column_format_description_and_priority_pass_through() -> None:
    columns: list[dict[str, Any]] = [
        {"name": "N", "type": "integer", "format": "int32", "priority": 2, "jsonPath": ".n"},
        {"name": "D", "type": "string", "description": "The d.", "jsonPath": ".d"},
    ]
    table = tables.to_table("X", [], printer_columns=columns, now=NOW)
    assert table["columnDefinitions"][1:] == [
        {
            "name": "N",
            "type": "integer",
            "format": "int32",
            "description": "Custom resource definition column (in JSONPath format): .n",
            "priority": 2,
        },
        {"name": "D", "type": "string", "format": "", "description": "The d.", "priority": 0},
    ]
    assert table["rows"] == []


def test_an_unsupported_printer_column_path_raises() -> None:
    columns = [{"name": "Bad", "type": "string", "jsonPath": ".a[0,1]"}]
    with pytest.raises(ValueError, match="unsupported JSONPath"):
        tables.to_table("X", [{"metadata": {"name": "x"}}], printer_columns=columns, now=NOW)


# --------------------------------------------------------------------------- the envelope


def test_rows_carry_partial_object_metadata_by_default() -> None:
    obj = _trigger("True")
    table = tables.to_table("Trigger", [obj], printer_columns=[], now=NOW)
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def test_include_object_object_and_none() -> None:
    obj = _trigger("True")
    whole = tables.to_table("Trigger", [obj], printer_columns=[], now=NOW, include_object="Object")
    bare = tables.to_table("Trigger", [obj], printer_columns=[], now=NOW, include_object="None")
    assert whole["rows"][0]["object"] == obj
    assert "object" not in bare["rows"][0]
    with pytest.raises(ValueError, match="includeObject"):
        tables.to_table("Trigger", [obj], printer_columns=[], now=NOW, include_object="All")


def test_list_metadata_is_copied_into_the_table() -> None:
    meta = {"resourceVersion": "42", "continue": "tok", "remainingItemCount": 3, "junk": 1}
    table = tables.to_table("Pod", [], printer_columns=None, now=NOW, list_metadata=meta)
    assert table["metadata"] == {
        "resourceVersion": "42",
        "continue": "tok",
        "remainingItemCount": 3,
    }
    assert tables.to_table("Pod", [], printer_columns=None, now=NOW)["metadata"] == {}


def test_every_column_definition_has_the_five_fields() -> None:
    for kind in ("Pod", "Deployment", "Event", "Widget"):
        table = tables.to_table(kind, [], printer_columns=None, now=NOW)
        for column in table["columnDefinitions"]:
            assert set(column) == {"name", "type", "format", "description", "priority"}
            assert column["description"]
            assert column["format"] == (
                "name" if column["name"] == "Name" and kind != "Event" else ""
            )


# --------------------------------------------------------------------------- built-in kinds


def _pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": _meta("web-1"),
        "spec": {"nodeName": "node-1", "containers": [{"name": "app"}, {"name": "proxy"}]},
        "status": status,
    }


def _running(name: str, ready: bool = True, restarts: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "state": {"running": {"startedAt": CREATED}},
        **extra,
    }


def test_pod_columns_and_a_running_pod() -> None:
    table = tables.to_table("Pod", [], printer_columns=None, now=NOW)
    assert _names(table) == ["Name", "Ready", "Status", "Restarts", "Age"]
    pod = _pod(
        phase="Running",
        podIPs=[{"ip": "10.1.0.5"}],
        containerStatuses=[_running("app"), _running("proxy", ready=False)],
    )
    assert _cells("Pod", pod) == [
        "web-1",
        "1/2",
        "Running",
        "0",
        "5m",
        "10.1.0.5",
        "node-1",
        "<none>",
        "<none>",
    ]


def test_pod_restarts_show_how_long_ago_the_last_one_was() -> None:
    last = {"terminated": {"exitCode": 1, "finishedAt": "2025-12-31T23:58:00Z"}}
    pod = _pod(
        phase="Running",
        containerStatuses=[_running("app", restarts=2, lastState=last), _running("proxy")],
    )
    assert _cells("Pod", pod)[:4] == ["web-1", "2/2", "Running", "2 (2m ago)"]


@pytest.mark.parametrize(
    ("state", "shown"),
    [
        ({"waiting": {"reason": "CrashLoopBackOff"}}, "CrashLoopBackOff"),
        ({"waiting": {"reason": "ContainerCreating"}}, "ContainerCreating"),
        ({"terminated": {"reason": "OOMKilled", "exitCode": 137}}, "OOMKilled"),
        ({"terminated": {"exitCode": 3}}, "ExitCode:3"),
        ({"terminated": {"exitCode": 0, "signal": 9}}, "Signal:9"),
    ],
)
def test_pod_status_comes_from_a_container_in_trouble(state: Any, shown: str) -> None:
    trouble = {"name": "app", "ready": False, "restartCount": 0, "state": state}
    pod = _pod(phase="Running", containerStatuses=[trouble, _running("proxy")])
    assert _cells("Pod", pod)[1:3] == ["1/2", shown]


def test_pod_waiting_for_its_init_container() -> None:
    pod = _pod(
        phase="Pending",
        initContainerStatuses=[
            {"name": "migrate", "restartCount": 0, "state": {"running": {}}, "ready": False}
        ],
    )
    pod["spec"]["initContainers"] = [{"name": "migrate"}]
    assert _cells("Pod", pod)[1:3] == ["0/2", "Init:0/1"]


def test_pod_being_deleted_is_terminating() -> None:
    pod = _pod(phase="Running", containerStatuses=[_running("app"), _running("proxy")])
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert _cells("Pod", pod)[2] == "Terminating"


def test_a_succeeded_pod_row_carries_the_completed_condition() -> None:
    done = {"terminated": {"reason": "Completed", "exitCode": 0}}
    statuses = [{"name": n, "ready": False, "restartCount": 0, "state": done} for n in ("a", "b")]
    pod = _pod(phase="Succeeded", containerStatuses=statuses)
    row = tables.to_table("Pod", [pod], printer_columns=None, now=NOW)["rows"][0]
    assert row["cells"][1:3] == ["0/2", "Completed"]
    assert row["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]


def _template(*images: str) -> dict[str, Any]:
    containers = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    return {"spec": {"containers": containers}}


def test_deployment_columns_and_cells() -> None:
    deployment = {
        "metadata": _meta("web"),
        "spec": {
            "replicas": 3,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}],
            },
            "template": _template("web:1", "proxy:2"),
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    table = tables.to_table("Deployment", [deployment], printer_columns=None, now=NOW)
    assert _names(table) == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert table["rows"][0]["cells"] == [
        "web",
        "2/3",
        3,
        2,
        "5m",
        "c0,c1",
        "web:1,proxy:2",
        "app=web,tier in (a,b)",
    ]


def test_a_deployment_without_replicas_or_status_wants_one() -> None:
    deployment = {"metadata": _meta("web"), "spec": {"template": _template("web:1")}}
    assert _cells("Deployment", deployment)[:4] == ["web", "0/1", 0, 0]


def test_replicaset_columns_and_cells() -> None:
    replicaset = {
        "metadata": _meta("web-5d8f"),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": _template("web:1"),
        },
        "status": {"replicas": 2, "readyReplicas": 1},
    }
    table = tables.to_table("ReplicaSet", [replicaset], printer_columns=None, now=NOW)
    assert _names(table) == ["Name", "Desired", "Current", "Ready", "Age"]
    assert table["rows"][0]["cells"] == ["web-5d8f", 2, 2, 1, "5m", "c0", "web:1", "app=web"]


def test_service_columns_and_a_cluster_ip_service() -> None:
    service = {
        "metadata": _meta("web"),
        "spec": {
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "selector": {"app": "web", "tier": "a"},
            "ports": [{"port": 80}, {"port": 443, "nodePort": 30443, "protocol": "TCP"}],
        },
    }
    table = tables.to_table("Service", [service], printer_columns=None, now=NOW)
    assert _names(table) == ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"]
    assert table["rows"][0]["cells"] == [
        "web",
        "ClusterIP",
        "10.96.0.10",
        "<none>",
        "80/TCP,443:30443/TCP",
        "5m",
        "app=web,tier=a",
    ]


@pytest.mark.parametrize(
    ("spec", "status", "external"),
    [
        ({"type": "LoadBalancer"}, {}, "<pending>"),
        ({"type": "LoadBalancer"}, {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}, "1.2.3.4"),
        ({"type": "NodePort", "externalIPs": ["5.6.7.8"]}, {}, "5.6.7.8"),
        ({"type": "ExternalName", "externalName": "db.example.com"}, {}, "db.example.com"),
    ],
)
def test_service_external_ip(spec: Any, status: Any, external: str) -> None:
    service = {"metadata": _meta("web"), "spec": spec, "status": status}
    cells = _cells("Service", service)
    assert cells[1] == spec["type"]
    assert cells[2:5] == ["<none>", external, "<none>"]
    assert cells[6] == "<none>"


def test_job_columns_and_a_complete_job() -> None:
    job = {
        "metadata": _meta("analysis"),
        "spec": {"completions": 1, "template": _template("check:1")},
        "status": {
            "succeeded": 1,
            "startTime": "2025-12-31T23:55:00Z",
            "completionTime": "2025-12-31T23:55:30Z",
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    }
    table = tables.to_table("Job", [job], printer_columns=None, now=NOW)
    assert _names(table) == ["Name", "Status", "Completions", "Duration", "Age"]
    assert table["rows"][0]["cells"][:5] == ["analysis", "Complete", "1/1", "30s", "5m"]


def test_a_running_job_counts_its_duration_until_now() -> None:
    job = {
        "metadata": _meta("analysis"),
        "spec": {"parallelism": 2},
        "status": {"startTime": "2025-12-31T23:59:00Z"},
    }
    assert _cells("Job", job)[1:4] == ["Running", "0/1 of 2", "60s"]


def test_ingress_columns_and_cells() -> None:
    rules = [{"host": f"h{i}.example.com"} for i in range(4)] + [{}]
    ingress = {
        "metadata": _meta("web-canary"),
        "spec": {"ingressClassName": "nginx", "rules": rules, "tls": [{"hosts": ["h0"]}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"hostname": "lb.example"}]}},
    }
    table = tables.to_table("Ingress", [ingress], printer_columns=None, now=NOW)
    assert _names(table) == ["Name", "Class", "Hosts", "Address", "Ports", "Age"]
    assert table["rows"][0]["cells"] == [
        "web-canary",
        "nginx",
        "h0.example.com,h1.example.com,h2.example.com + 2 more...",
        "1.2.3.4,lb.example",
        "80, 443",
        "5m",
    ]


def test_an_ingress_without_hosts_class_or_tls() -> None:
    ingress = {"metadata": _meta("web"), "spec": {"rules": [{"http": {}}]}}
    assert _cells("Ingress", ingress) == ["web", "<none>", "*", "", "80", "5m"]


def test_configmap_secret_and_namespace() -> None:
    configmap = {"metadata": _meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}}
    secret = {"metadata": _meta("tok"), "type": "kubernetes.io/tls", "data": {"tls.crt": ""}}
    namespace = {"metadata": _meta("ferry"), "status": {"phase": "Terminating"}}
    assert _cells("ConfigMap", configmap) == ["cfg", 3, "5m"]
    assert _cells("Secret", secret) == ["tok", "kubernetes.io/tls", 1, "5m"]
    assert _cells("Secret", {"metadata": _meta("s")}) == ["s", "Opaque", 0, "5m"]
    assert _cells("Namespace", namespace) == ["ferry", "Terminating", "5m"]
    assert _cells("Namespace", {"metadata": _meta("new")}) == ["new", "Active", "5m"]
    assert _names(tables.to_table("Secret", [], printer_columns=None, now=NOW)) == [
        "Name",
        "Type",
        "Data",
        "Age",
    ]


def test_event_columns_and_cells() -> None:
    event = {
        "metadata": _meta("web.17f"),
        "type": "Warning",
        "reason": "AnalysisFailed",
        "message": "  error rate 7% > 5%\n",
        "involvedObject": {"kind": "Rollout", "name": "web", "fieldPath": "spec.analysis"},
        "source": {"component": "ferry"},
        "firstTimestamp": "2025-12-31T23:50:00Z",
        "lastTimestamp": "2025-12-31T23:59:00Z",
        "count": 4,
    }
    table = tables.to_table("Event", [event], printer_columns=None, now=NOW)
    assert _names(table) == ["Last Seen", "Type", "Reason", "Object", "Message"]
    assert table["rows"][0]["cells"] == [
        "60s",
        "Warning",
        "AnalysisFailed",
        "rollout/web",
        "spec.analysis",
        "ferry",
        "error rate 7% > 5%",
        "10m",
        4,
        "web.17f",
    ]


def test_a_new_style_event_uses_event_time_and_counts_one() -> None:
    event = {
        "metadata": _meta("e"),
        "eventTime": "2025-12-31T23:59:30.000000Z",
        "reportingComponent": "ferry",
        "reportingInstance": "pod-1",
        "involvedObject": {"kind": "Pod"},
    }
    cells = _cells("Event", event)
    assert [cells[0], cells[3], cells[5], cells[7], cells[8]] == [
        "30s",
        "pod",
        "ferry, pod-1",
        "30s",
        1,
    ]


def test_any_other_kind_shows_name_and_age() -> None:
    table = tables.to_table(
        "ServiceAccount",
        [{"metadata": _meta("default")}, {"metadata": {"name": "undated"}}],
        printer_columns=None,
        now=NOW,
    )
    assert _names(table) == ["Name", "Age"]
    assert [row["cells"] for row in table["rows"]] == [["default", "5m"], ["undated", "<unknown>"]]
