"""Helpers for tests of the simulator's security: identities, RBAC objects and the Rollout CRD.

Builders of Roles, ClusterRoles, bindings and subjects, a client acting as a token's user, the
``rollouts.ferry.dev`` CRD (a status subresource, free-form spec and status) and its objects,
and reading a review's answer. No fixture and no assertion lives here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubernetes import client

from local.sim.cluster import Simulator
from tests.sim.client_calls import NS, crd, create_crd, rbac

FERRY = "ferry.dev"
RBAC = "rbac.authorization.k8s.io"


def rule(
    verbs: Sequence[str],
    resources: Sequence[str],
    groups: Sequence[str] = ("",),
    names: Sequence[str] = (),
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "verbs": list(verbs),
        "apiGroups": list(groups),
        "resources": list(resources),
    }
    if names:
        out["resourceNames"] = list(names)
    return out


def user(name: str) -> dict[str, Any]:
    return {"kind": "User", "apiGroup": RBAC, "name": name}


def group(name: str) -> dict[str, Any]:
    return {"kind": "Group", "apiGroup": RBAC, "name": name}


def service_account(name: str, namespace: str | None = NS) -> dict[str, Any]:
    subject = {"kind": "ServiceAccount", "name": name}
    return subject if namespace is None else dict(subject, namespace=namespace)


def grant(
    api: client.ApiClient,
    name: str,
    subjects: Sequence[dict[str, Any]],
    rules: Sequence[dict[str, Any]],
    namespace: str | None = NS,
) -> None:
    """A Role and RoleBinding in ``namespace`` (a ClusterRole and ClusterRoleBinding when
    None) granting ``rules`` to ``subjects``."""
    kind = "Role" if namespace else "ClusterRole"
    role = {"metadata": {"name": name}, "rules": list(rules)}
    binding = {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": kind, "name": name},
        "subjects": list(subjects),
    }
    if namespace:
        rbac(api).create_namespaced_role(namespace, role)
        rbac(api).create_namespaced_role_binding(namespace, binding)
    else:
        rbac(api).create_cluster_role(role)
        rbac(api).create_cluster_role_binding(binding)


def bind_cluster_role(
    api: client.ApiClient,
    name: str,
    role: str,
    subjects: Sequence[dict[str, Any]],
    namespace: str | None = NS,
) -> None:
    """Bind an existing ClusterRole: in ``namespace`` (a RoleBinding), or cluster-wide."""
    binding = {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": list(subjects),
    }
    if namespace:
        rbac(api).create_namespaced_role_binding(namespace, binding)
    else:
        rbac(api).create_cluster_role_binding(binding)


def acting(sim: Simulator, token: str) -> client.ApiClient:
    """A client of ``sim`` sending ``token``."""
    api: client.ApiClient = sim.api_client(token)
    return api


def make_service_account(api: client.ApiClient, name: str, namespace: str = NS) -> Any:
    return client.CoreV1Api(api).create_namespaced_service_account(
        namespace, {"metadata": {"name": name}}
    )


def rollout_crd() -> dict[str, Any]:
    free = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema = {"type": "object", "properties": {"spec": free, "status": free}}
    return crd(FERRY, "v1alpha1", "rollouts", "Rollout", schema, subresources={"status": {}})


def install_rollouts(api: client.ApiClient) -> None:
    create_crd(api, rollout_crd())


def rollout(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{FERRY}/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {"strategy": "canary"},
    }


def with_rollout(api: client.ApiClient, name: str = "r") -> None:
    """Serve the Rollout CRD and create one Rollout in the default namespace."""
    install_rollouts(api)
    rollouts(api).create_namespaced_custom_object(FERRY, "v1alpha1", NS, "rollouts", rollout(name))


def rollouts(api: client.ApiClient) -> Any:
    return client.CustomObjectsApi(api)
