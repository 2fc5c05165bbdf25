"""The RBAC objects a real API server bootstraps and that clients rely on.

``cluster-admin`` (bound to ``system:masters``); ``system:discovery`` and ``system:basic-user``
(bound to ``system:authenticated``: discovery, SelfSubjectReview, SelfSubjectAccessReview and
SelfSubjectRulesReview for every authenticated user); ``system:public-info-viewer`` (bound to
``system:authenticated`` and ``system:unauthenticated``: ``/version`` and the health probes);
``system:auth-delegator`` (TokenReview and SubjectAccessReview, bound to nobody); and the
user-facing ``admin``, ``edit`` and ``view`` roles, aggregated from ``system:aggregate-to-*`` for
the kinds the simulator serves. Only writes these objects, once, at start.
"""

from __future__ import annotations

from local.sim.auth import aggregation, users
from local.sim.objects import Obj
from local.sim.store import Store

GROUP = "rbac.authorization.k8s.io"


def _names(text: str) -> list[str]:
    """The words of ``text``: long lists of names, written compactly."""
    return text.split()


READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
DISCOVERY_URLS = _names(
    """
    /api /api/* /apis /apis/* /healthz /livez /openapi /openapi/* /readyz /version /version/
    """
)
PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def _rule(verbs: list[str], groups: list[str], resources: list[str]) -> Obj:
    return {"verbs": verbs, "apiGroups": groups, "resources": resources}


def _urls(verbs: list[str], urls: list[str]) -> Obj:
    return {"verbs": verbs, "nonResourceURLs": urls}


_VIEWED = {
    "": _names(
        """
        configmaps endpoints persistentvolumeclaims pods replicationcontrollers
        replicationcontrollers/scale serviceaccounts services services/status bindings
        events limitranges namespaces/status pods/log pods/status
        replicationcontrollers/status resourcequotas resourcequotas/status namespaces
        """
    ),
    "apps": _names(
        """
        controllerrevisions daemonsets daemonsets/status deployments deployments/scale
        deployments/status replicasets replicasets/scale replicasets/status statefulsets
        statefulsets/scale statefulsets/status
        """
    ),
    "autoscaling": _names("horizontalpodautoscalers horizontalpodautoscalers/status"),
    "batch": _names("cronjobs cronjobs/status jobs jobs/status"),
    "networking.k8s.io": _names("ingresses ingresses/status networkpolicies"),
    "coordination.k8s.io": _names("leases"),
}
_EDITED = {
    "": _names(
        """
        pods pods/attach pods/exec pods/portforward pods/proxy configmaps endpoints events
        persistentvolumeclaims replicationcontrollers replicationcontrollers/scale secrets
        serviceaccounts services services/proxy
        """
    ),
    "apps": _names(
        """
        daemonsets deployments deployments/rollback deployments/scale replicasets
        replicasets/scale statefulsets statefulsets/scale
        """
    ),
    "autoscaling": _names("horizontalpodautoscalers"),
    "batch": _names("cronjobs jobs"),
    "networking.k8s.io": _names("ingresses networkpolicies"),
    "coordination.k8s.io": _names("leases"),
}


def _cluster_role(
    name: str,
    rules: list[Obj],
    labels: dict[str, str] | None = None,
    aggregate_from: str | None = None,
) -> Obj:
    role: Obj = {
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults", **(labels or {})},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "rules": rules,
    }
    if aggregate_from is not None:
        role["aggregationRule"] = {
            "clusterRoleSelectors": [{"matchLabels": {AGGREGATE + aggregate_from: "true"}}]
        }
    return role


def cluster_roles() -> list[Obj]:
    """The bootstrap ClusterRoles (aggregated ones with their rules not yet gathered)."""
    viewed = [_rule(READ, [g], r) for g, r in _VIEWED.items()]
    edited = [_rule(WRITE, [g], r) for g, r in _EDITED.items()]
    edited += [
        _rule(["impersonate"], [""], ["serviceaccounts"]),
        _rule(["create"], [""], ["serviceaccounts/token"]),
        _rule(READ, [""], ["secrets"]),
    ]
    return [
        _cluster_role("cluster-admin", [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])]),
        _cluster_role("system:discovery", [_urls(["get"], DISCOVERY_URLS)]),
        _cluster_role("system:public-info-viewer", [_urls(["get"], PUBLIC_URLS)]),
        _cluster_role(
            "system:basic-user",
            [
                _rule(
                    ["create"],
                    ["authorization.k8s.io"],
                    ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
            ],
        ),
        _cluster_role(
            "system:auth-delegator",
            [
                _rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
                _rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
            ],
        ),
        _cluster_role("admin", [], aggregate_from="admin"),
        _cluster_role("edit", [], {AGGREGATE + "admin": "true"}, aggregate_from="edit"),
        _cluster_role("view", [], {AGGREGATE + "edit": "true"}, aggregate_from="view"),
        _cluster_role(
            "system:aggregate-to-admin",
            [
                _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
                _rule([*READ, *WRITE], [GROUP], ["rolebindings", "roles"]),
            ],
            {AGGREGATE + "admin": "true"},
        ),
        _cluster_role("system:aggregate-to-edit", edited, {AGGREGATE + "edit": "true"}),
        _cluster_role("system:aggregate-to-view", viewed, {AGGREGATE + "view": "true"}),
    ]


def _binding(name: str, *groups: str) -> Obj:
    return {
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": g} for g in groups],
    }


def cluster_role_bindings() -> list[Obj]:
    return [
        _binding("cluster-admin", users.MASTERS),
        _binding("system:discovery", users.AUTHENTICATED),
        _binding("system:basic-user", users.AUTHENTICATED),
        _binding("system:public-info-viewer", users.AUTHENTICATED, users.UNAUTHENTICATED),
    ]


def install(store: Store) -> None:
    """Create the bootstrap roles (aggregated ones already gathered) and bindings."""
    roles = cluster_roles()
    for _ in roles:  # aggregated roles aggregate one another: gather until nothing changes
        changed = False
        for role in roles:
            gathered = aggregation.aggregated_rules(role, roles)
            if gathered is not None and gathered != role["rules"]:
                role["rules"], changed = gathered, True
        if not changed:
            break
    for plural, objects in (
        ("clusterroles", roles),
        ("clusterrolebindings", cluster_role_bindings()),
    ):
        rt = store.registry.versions_of(GROUP, plural)[0]
        for obj in objects:
            store.create(rt, None, obj)
