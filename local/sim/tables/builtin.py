"""The column table of the built-in kinds: what ``kubectl get`` shows for each.

``PRINTERS`` maps a kind to its columns, as the real server's printers define them (names,
types, descriptions, ``-o wide`` priorities), each with the function computing its cell: a
field read declared here, or a function of ``cells`` (the Pod's, of ``pods``). A kind missing
here is printed with Name and Age. Nothing here reads a CRD or knows of custom resources (see
``custom``), and no cell is computed here beyond a field read.
"""

from __future__ import annotations

from collections.abc import Mapping

from local.sim.tables import cells
from local.sim.tables.columns import AGE, NAME, Column, Printer, count, name, or_none
from local.sim.tables.fields import as_list, dig, mapping
from local.sim.tables.pods import POD

_WORKLOAD_WIDE = (  # the -o wide columns of Deployments, ReplicaSets and Jobs
    Column(
        "Containers",
        "string",
        "Names of each container in the template.",
        cells.container_names,
        priority=1,
    ),
    Column(
        "Images",
        "string",
        "Images referenced by each container.",
        cells.container_images,
        priority=1,
    ),
    Column("Selector", "string", "Label selector for the pods.", cells.selector_text, priority=1),
)


PRINTERS: Mapping[str, Printer] = {
    "Pod": POD,
    "Deployment": Printer(
        (
            NAME,
            Column(
                "Ready", "string", "Ready replicas out of desired replicas.", cells.deployment_ready
            ),
            Column(
                "Up-to-date",
                "integer",
                "Replicas running the latest template.",
                count("status", "updatedReplicas"),
            ),
            Column(
                "Available",
                "integer",
                "Replicas available to users.",
                count("status", "availableReplicas"),
            ),
            AGE,
            *_WORKLOAD_WIDE,
        )
    ),
    "ReplicaSet": Printer(
        (
            NAME,
            Column(
                "Desired",
                "integer",
                "Number of desired replicas.",
                count("spec", "replicas", default=1),
            ),
            Column(
                "Current", "integer", "Number of created replicas.", count("status", "replicas")
            ),
            Column(
                "Ready", "integer", "Number of ready replicas.", count("status", "readyReplicas")
            ),
            AGE,
            *_WORKLOAD_WIDE,
        )
    ),
    "Service": Printer(
        (
            NAME,
            Column("Type", "string", "How the service is exposed.", cells.service_type),
            Column("Cluster-IP", "string", "The cluster-internal IP address.", cells.cluster_ip),
            Column(
                "External-IP", "string", "External addresses of the service.", cells.external_ip
            ),
            Column("Port(s)", "string", "Ports exposed by the service.", cells.service_ports),
            AGE,
            Column(
                "Selector", "string", "Pods this service routes to.", cells.labels_text, priority=1
            ),
        )
    ),
    "Job": Printer(
        (
            NAME,
            Column("Status", "string", "The state of the job.", cells.job_state),
            Column(
                "Completions",
                "string",
                "Succeeded pods out of desired completions.",
                cells.job_completions,
            ),
            Column(
                "Duration", "string", "Time the job took, or has taken so far.", cells.job_duration
            ),
            AGE,
            *_WORKLOAD_WIDE,
        )
    ),
    "Ingress": Printer(
        (
            NAME,
            Column(
                "Class", "string", "The ingress class name.", or_none("spec", "ingressClassName")
            ),
            Column("Hosts", "string", "Hosts the rules match.", cells.ingress_hosts),
            Column(
                "Address", "string", "Addresses of the load balancer.", cells.load_balancer_text
            ),
            Column(
                "Ports",
                "string",
                "Ports served.",
                lambda row: "80, 443" if as_list(dig(row.obj, "spec", "tls")) else "80",
            ),
            AGE,
        )
    ),
    "ConfigMap": Printer(
        (NAME, Column("Data", "integer", "Number of keys.", cells.data_count), AGE)
    ),
    "Secret": Printer(
        (
            NAME,
            Column(
                "Type",
                "string",
                "The type of the secret.",
                lambda row: str(row.obj.get("type") or "Opaque"),
            ),
            Column("Data", "integer", "Number of keys.", cells.secret_keys),
            AGE,
        )
    ),
    "Namespace": Printer(
        (
            NAME,
            Column(
                "Status",
                "string",
                "The namespace's phase.",
                lambda row: str(dig(row.obj, "status", "phase") or "Active"),
            ),
            AGE,
        )
    ),
    "Event": Printer(
        (
            Column(
                "Last Seen",
                "string",
                "Time since the event was last seen.",
                cells.event_last_seen,
            ),
            Column("Type", "string", "Normal or Warning.", lambda row: row.obj.get("type", "")),
            Column(
                "Reason",
                "string",
                "Why the event happened, in CamelCase.",
                lambda row: row.obj.get("reason", ""),
            ),
            Column("Object", "string", "The object the event is about.", cells.event_object),
            Column(
                "Subobject",
                "string",
                "The part of the object.",
                lambda row: mapping(row.obj.get("involvedObject")).get("fieldPath", ""),
                priority=1,
            ),
            Column("Source", "string", "Who reported the event.", cells.event_source, priority=1),
            Column(
                "Message",
                "string",
                "What happened.",
                lambda row: str(row.obj.get("message", "")).strip(),
            ),
            Column(
                "First Seen",
                "string",
                "Time since the event was first seen.",
                cells.event_first_seen,
                priority=1,
            ),
            Column(
                "Count",
                "integer",
                "How many times it happened.",
                cells.event_count,
                priority=1,
            ),
            Column("Name", "string", "Name of the event object.", name, priority=1),
        )
    ),
}
"""Each built-in kind's printer, by kind."""
