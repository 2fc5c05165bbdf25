"""Strategic merge patch, as data: which lists of each built-in kind merge, and by which key.

Paths are dotted field names from the object's root; ``[]`` steps into the items of a list.
The value is the list's merge key, or ``UNION`` for a list of primitive values merged as a set.
Every list found in none of these tables is replaced by the patch's list. This module says
which kinds accept a strategic merge patch at all; it applies nothing (see ``strategic``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

UNION: Final = ""
"""Merge key marking a list of primitives merged as a set (e.g. ``metadata.finalizers``)."""

OBJECT_META: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ownerReferences": "uid",
        "finalizers": UNION,
    }
)
"""Merging lists of an ObjectMeta (``metadata``, and the metadata of pod templates)."""

_CONTAINER: Final[Mapping[str, str]] = {
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    # envFrom, command, args, resizePolicy...: replaced
}

POD_SPEC: Final[Mapping[str, str]] = MappingProxyType(
    {
        "containers": "name",
        "initContainers": "name",
        "ephemeralContainers": "name",
        "volumes": "name",
        "imagePullSecrets": "name",
        "hostAliases": "ip",
        "topologySpreadConstraints": "topologyKey",
        "schedulingGates": "name",
        "resourceClaims": "name",
        # tolerations, readinessGates...: replaced
        **{
            f"{containers}[].{field}": key
            for containers in ("containers", "initContainers", "ephemeralContainers")
            for field, key in _CONTAINER.items()
        },
    }
)
"""Merging lists of a PodSpec, relative to the pod spec."""

POD_TEMPLATE_AT: Final[Mapping[str, str]] = MappingProxyType(
    {
        "Pod": "",  # a Pod is its own template: metadata and spec at the root
        "PodTemplate": "template",
        "ReplicationController": "spec.template",
        "Deployment": "spec.template",
        "ReplicaSet": "spec.template",
        "StatefulSet": "spec.template",
        "DaemonSet": "spec.template",
        "Job": "spec.template",
        "CronJob": "spec.jobTemplate.spec.template",
    }
)
"""Where each workload kind keeps its pod template (``metadata`` + ``spec``)."""

_CONDITIONS: Final[Mapping[str, str]] = {"status.conditions": "type"}

KIND_LISTS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "Pod": {**_CONDITIONS, "status.podIPs": "ip", "status.hostIPs": "ip"},
        "Deployment": _CONDITIONS,
        "ReplicaSet": _CONDITIONS,
        "StatefulSet": _CONDITIONS,
        "DaemonSet": _CONDITIONS,
        "ReplicationController": _CONDITIONS,
        "Job": _CONDITIONS,
        "Node": {**_CONDITIONS, "status.addresses": "type", "spec.podCIDRs": UNION},
        "Namespace": _CONDITIONS,
        "PersistentVolumeClaim": _CONDITIONS,
        "Service": {**_CONDITIONS, "spec.ports": "port"},
        "HorizontalPodAutoscaler": _CONDITIONS,
        "PodDisruptionBudget": _CONDITIONS,
        # Ingress, ConfigMap, Secret, Role, Lease, Event...: no merging lists beyond metadata
    }
)
"""Each kind's own merging lists, from the object's root."""

BUILTIN_GROUPS: Final = frozenset(
    {
        "",  # core
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "networking.k8s.io",
        "coordination.k8s.io",
        "rbac.authorization.k8s.io",
        "events.k8s.io",
        "discovery.k8s.io",
        "storage.k8s.io",
        "scheduling.k8s.io",
        "node.k8s.io",
        "certificates.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "flowcontrol.apiserver.k8s.io",
    }
)
"""API groups compiled into the API server; custom resources live elsewhere and get a 415."""


def join(path: str, field: str) -> str:
    """The dotted path of ``field`` below ``path`` (``""`` is the root)."""
    return f"{path}.{field}" if path else field


def _mount(at: str, table: Mapping[str, str]) -> dict[str, str]:
    return {join(at, path): key for path, key in table.items()}


def supports_strategic_merge(api_version: str, kind: str) -> bool:
    """Whether the API server accepts a strategic merge patch for this kind (built-ins only)."""
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    return bool(kind) and group in BUILTIN_GROUPS


@functools.lru_cache(maxsize=64)
def merge_keys_for(kind: str) -> Mapping[str, str]:
    """Every merging list of ``kind``: path pattern from the root -> merge key (or UNION)."""
    table = _mount("metadata", OBJECT_META)
    template = POD_TEMPLATE_AT.get(kind)
    if template is not None:
        table |= _mount(join(template, "metadata"), OBJECT_META)
        table |= _mount(join(template, "spec"), POD_SPEC)
    table |= KIND_LISTS.get(kind, {})
    return MappingProxyType(table)
