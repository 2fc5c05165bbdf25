"""The resource types the simulator serves: built-in kinds and those defined by CRDs.

A :class:`ResourceType` says everything the HTTP layer and the store need to know about one
kind: where it lives in the URL space, whether it is namespaced, which subresources it has,
what discovery advertises about it. :class:`Registry` holds them and grows or shrinks as
CustomResourceDefinitions are created and deleted. No objects are stored here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ScalePaths:
    """Where the scale subresource reads and writes replicas (CRD ``subresources.scale``)."""

    spec_replicas: str = ".spec.replicas"
    status_replicas: str = ".status.replicas"
    label_selector: str | None = None


@dataclass(frozen=True)
class Action:
    """A subresource answered rather than stored (``serviceaccounts/token``): what discovery
    says of it."""

    name: str
    group: str
    version: str
    kind: str
    verbs: tuple[str, ...] = ("create",)


@dataclass(frozen=True)
class ResourceType:
    """One kind of object, as discovery describes it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status: bool = False
    scale: ScalePaths | None = None
    generation: bool = False
    """Whether ``metadata.generation`` is kept (bumped on changes outside metadata/status)."""
    schema: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    printer_columns: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, hash=False)
    crd: str | None = None
    """The name of the CRD that defines this type; None for built-in kinds."""
    spec_finalizers: bool = False
    """Whether ``spec.finalizers`` hold a deleted object too, as they hold a Namespace."""
    verbs: tuple[str, ...] = ALL_VERBS
    """What discovery says can be done; the review kinds can only be created."""
    actions: tuple[Action, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def key(self) -> tuple[str, str]:
        """Identity of the stored collection (one per group and plural, across versions)."""
        return (self.group, self.plural)

    def resource_list_entries(self) -> list[dict[str, Any]]:
        """The entries of an ``APIResourceList`` for this type and its subresources."""
        entry: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        entries = [entry]
        if self.status:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        if self.scale is not None:
            entries.append(
                {
                    "name": f"{self.plural}/scale",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                }
            )
        for action in self.actions:
            entries.append(
                {
                    "name": f"{self.plural}/{action.name}",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "group": action.group,
                    "version": action.version,
                    "kind": action.kind,
                    "verbs": list(action.verbs),
                }
            )
        return entries


def _reviews() -> list[ResourceType]:
    """The authentication and authorization kinds: created to ask, never stored."""
    ask = ("create",)
    authn, authz = "authentication.k8s.io", "authorization.k8s.io"
    return [
        ResourceType(authn, "v1", "tokenreviews", "TokenReview", namespaced=False, verbs=ask),
        ResourceType(
            authn, "v1", "selfsubjectreviews", "SelfSubjectReview", namespaced=False, verbs=ask
        ),
        ResourceType(
            authz, "v1", "subjectaccessreviews", "SubjectAccessReview", namespaced=False, verbs=ask
        ),
        ResourceType(
            authz,
            "v1",
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            namespaced=False,
            verbs=ask,
        ),
        ResourceType(
            authz,
            "v1",
            "selfsubjectrulesreviews",
            "SelfSubjectRulesReview",
            namespaced=False,
            verbs=ask,
        ),
        ResourceType(
            authz, "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", verbs=ask
        ),
    ]


def _builtin() -> list[ResourceType]:
    workload_scale = ScalePaths(label_selector=".spec.selector")
    t = ResourceType
    return [
        t(
            "",
            "v1",
            "namespaces",
            "Namespace",
            namespaced=False,
            short_names=("ns",),
            status=True,
            spec_finalizers=True,
        ),
        t("", "v1", "pods", "Pod", short_names=("po",), categories=("all",), status=True),
        t("", "v1", "services", "Service", short_names=("svc",), categories=("all",), status=True),
        t("", "v1", "endpoints", "Endpoints", short_names=("ep",)),
        t("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
        t("", "v1", "secrets", "Secret"),
        t("", "v1", "events", "Event", short_names=("ev",)),
        t(
            "",
            "v1",
            "serviceaccounts",
            "ServiceAccount",
            short_names=("sa",),
            actions=(Action("token", "authentication.k8s.io", "v1", "TokenRequest"),),
        ),
        t(
            "apps",
            "v1",
            "deployments",
            "Deployment",
            short_names=("deploy",),
            categories=("all",),
            status=True,
            scale=workload_scale,
            generation=True,
        ),
        t(
            "apps",
            "v1",
            "replicasets",
            "ReplicaSet",
            short_names=("rs",),
            categories=("all",),
            status=True,
            scale=workload_scale,
            generation=True,
        ),
        t("batch", "v1", "jobs", "Job", categories=("all",), status=True, generation=True),
        t(
            "networking.k8s.io",
            "v1",
            "ingresses",
            "Ingress",
            short_names=("ing",),
            status=True,
            generation=True,
        ),
        t(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            short_names=("netpol",),
            generation=True,
        ),
        t(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            short_names=("hpa",),
            categories=("all",),
            status=True,
            generation=True,
        ),
        t("coordination.k8s.io", "v1", "leases", "Lease"),
        t(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            namespaced=False,
            short_names=("crd", "crds"),
            status=True,
            generation=True,
        ),
        t("rbac.authorization.k8s.io", "v1", "roles", "Role"),
        t("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
        t("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
        t(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            namespaced=False,
        ),
        t(
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicies",
            "ValidatingAdmissionPolicy",
            namespaced=False,
            categories=("api-extensions",),
            status=True,
            generation=True,
        ),
        t(
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicybindings",
            "ValidatingAdmissionPolicyBinding",
            namespaced=False,
            categories=("api-extensions",),
            generation=True,
        ),
        *_reviews(),
    ]


def types_from_crd(crd: Mapping[str, Any]) -> list[ResourceType]:
    """The served versions of an ``apiextensions.k8s.io/v1`` CustomResourceDefinition."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    result = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        scale = subresources.get("scale")
        result.append(
            ResourceType(
                group=spec.get("group", ""),
                version=version["name"],
                plural=names.get("plural", ""),
                kind=names.get("kind", ""),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status="status" in subresources,
                scale=None
                if scale is None
                else ScalePaths(
                    spec_replicas=scale.get("specReplicasPath", ".spec.replicas"),
                    status_replicas=scale.get("statusReplicasPath", ".status.replicas"),
                    label_selector=scale.get("labelSelectorPath"),
                ),
                generation=True,
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                crd=(crd.get("metadata") or {}).get("name"),
            )
        )
    return result


class Registry:
    """All served resource types; thread-safe, updated as CRDs come and go."""

    def __init__(self, types: Iterable[ResourceType] | None = None) -> None:
        self._lock = threading.Lock()
        self._types: list[ResourceType] = list(_builtin() if types is None else types)

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            for rt in self._types:
                if (rt.group, rt.version, rt.plural) == (group, version, plural):
                    return rt
        return None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for rt in self._types:
                if (rt.group, rt.version, rt.kind) == (group, version, kind):
                    return rt
        return None

    def versions_of(self, group: str, plural: str) -> list[ResourceType]:
        with self._lock:
            return [rt for rt in self._types if rt.key == (group, plural)]

    def set_crd(self, crd: Mapping[str, Any]) -> None:
        """Serve (or re-serve, after an update) the types a CRD defines."""
        name = (crd.get("metadata") or {}).get("name")
        with self._lock:
            self._types = [rt for rt in self._types if rt.crd != name]
            self._types.extend(types_from_crd(crd))

    def remove_crd(self, name: str) -> None:
        with self._lock:
            self._types = [rt for rt in self._types if rt.crd != name]

    def groups(self) -> dict[str, list[str]]:
        """Group name -> versions served (core group excluded), in a stable order."""
        out: dict[str, list[str]] = {}
        with self._lock:
            for rt in self._types:
                if rt.group and rt.version not in out.setdefault(rt.group, []):
                    out[rt.group].append(rt.version)
        return out
