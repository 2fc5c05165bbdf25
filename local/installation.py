"""Ferry's cluster-wide pieces, put into the cluster the local runtime uses, as on a cluster.

``kubectl apply -k knative/`` installs the namespace, the CRDs, the RBAC (one ServiceAccount per
role) and the admission policies; Knative creates a ServiceAccount for the OIDC identity of each
source and Trigger. :func:`install` does the same from the same manifests, so that on the local
runtime every component acts as the identity its manifest names, RBAC decides what it may do,
and the policies check what people write. Idempotent: an object that exists is replaced. It
starts nothing and grants nothing the manifests do not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from shared.kube import Kube, NotFound

Obj = dict[str, Any]

INSTALLED = (
    "namespace.yaml",
    "crds/*.yaml",
    "rbac.yaml",
    "routers.yaml",
    "route-watch/*.yaml",
    "admission.yaml",
    "dashboard.yaml",
    "webhooks.yaml",
)
"""The manifest files :func:`install` applies, in this order (of ``route-watch/``, the RBAC:
the runtime runs the sources itself, ``local.runtime``)."""
SOURCES = frozenset({"ApiServerSource", "PingSource"})
"""Kinds the runtime runs rather than installs (with Knative Services, ``serving.knative.dev``)."""

_PATHS = {
    "Namespace": "/api/v1/namespaces",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
    "CustomResourceDefinition": "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    "ValidatingAdmissionPolicy": (
        "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
    ),
    "ValidatingAdmissionPolicyBinding": (
        "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"
    ),
}


def documents(manifests: Path) -> Iterator[Obj]:
    """The objects of the installed files, in order."""
    for pattern in INSTALLED:
        for path in sorted(manifests.glob(pattern)):
            for doc in yaml.safe_load_all(path.read_text()):
                if (
                    isinstance(doc, dict)
                    and doc.get("kind")
                    and doc["kind"] not in SOURCES
                    and not str(doc.get("apiVersion")).startswith("serving.knative.dev/")
                ):
                    yield doc


def apply(kube: Kube, obj: Obj) -> None:
    """Create ``obj``, or replace the object of its name with it."""
    meta = obj["metadata"]
    collection = _PATHS[obj["kind"]].format(ns=meta.get("namespace", ""))
    try:
        current = kube.request("GET", f"{collection}/{meta['name']}")
    except NotFound:
        kube.request("POST", collection, body=obj)
        return
    version = current["metadata"]["resourceVersion"]
    replaced = {**obj, "metadata": {**meta, "resourceVersion": version}}
    kube.request("PUT", f"{collection}/{meta['name']}", body=replaced)


def install(kube: Kube, manifests: Path) -> None:
    for obj in documents(manifests):
        apply(kube, obj)


def oidc_identity(name: str, group: str, kind: str) -> str:
    """The ServiceAccount Knative creates for the OIDC identity of resource ``name``: the
    name with ``-oidc-<group>-<kind>`` appended, lowercase, shortened with a hash to fit the
    63 characters of a name."""
    suffix = f"-oidc-{group}-{kind}".lower()
    full = f"{name}{suffix}".lower()
    if len(full) <= 63:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:10]
    return f"{name[: 63 - len(suffix) - 11]}-{digest}{suffix}".lower()


def service_account(kube: Kube, namespace: str, name: str) -> None:
    """Make sure the ServiceAccount exists (as Knative does for an OIDC identity)."""
    meta = {"name": name, "namespace": namespace}
    apply(kube, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta})
