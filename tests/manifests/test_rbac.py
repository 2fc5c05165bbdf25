"""RBAC: the ServiceAccounts, ClusterRoles and bindings the workloads and the source use.

Covered: every ServiceAccount used is defined and every one defined is used; every binding
resolves to a role and a ServiceAccount of ferry-system, and only ferry-functions and
ferry-source are bound (the dead-letter function and the timer need no access; the timer gets
no token); no role grants a wildcard; ferry-source may get, list and watch exactly what the
ApiServerSource watches; ferry-functions is least privilege; ferry-rollout-operator reads what
kubectl ferry shows and writes only rollouts/status, never the spec.
"""

from __future__ import annotations

from tests.manifests.helpers import (
    NAMESPACE,
    Obj,
    _by_name,
    _manifest,
    _of_kind,
    _services,
)


def _grants(role: Obj) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _plural(kind: str) -> str:
    """The resource Knative guesses from a kind (``meta.UnsafeGuessKindToResource``)."""
    lower = kind.lower()
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + "s"


def test_every_service_account_used_exists_and_every_binding_resolves() -> None:
    rbac = _manifest("rbac.yaml")
    accounts = {sa["metadata"]["name"] for sa in _of_kind(rbac, "ServiceAccount")}
    roles = _by_name(_of_kind(rbac, "ClusterRole"))
    used = {s["spec"]["template"]["spec"]["serviceAccountName"] for s in _services().values()}
    used |= {
        s["spec"]["serviceAccountName"]
        for s in _of_kind(_manifest("sources.yaml"), "ApiServerSource")
    }
    used |= {
        d["spec"]["template"]["spec"]["serviceAccountName"]
        for d in _of_kind(_manifest("timer-worker.yaml"), "Deployment")
    }
    assert used == accounts, "every ServiceAccount is used, and every one used is defined"
    bound = set()
    for binding in _of_kind(rbac, "ClusterRoleBinding"):
        assert binding["roleRef"]["kind"] == "ClusterRole"
        assert binding["roleRef"]["name"] in roles
        for subject in binding["subjects"]:
            assert subject == {
                "kind": "ServiceAccount",
                "name": subject["name"],
                "namespace": NAMESPACE,
            }
            assert subject["name"] in accounts
            bound.add(subject["name"])
    assert bound == {"ferry-functions", "ferry-source"}, "deadletter and timer need no access"
    assert (
        _by_name(_of_kind(rbac, "ServiceAccount"))["ferry-timer"]["automountServiceAccountToken"]
        is False
    )


def test_roles_grant_no_wildcards() -> None:
    for role in _of_kind(_manifest("rbac.yaml"), "ClusterRole"):
        for group, resource, verb in _grants(role):
            assert "*" not in (group, resource, verb), role["metadata"]["name"]


def test_source_role_is_exactly_what_the_apiserversource_watches() -> None:
    (api_source,) = _of_kind(_manifest("sources.yaml"), "ApiServerSource")
    roles = _by_name(_of_kind(_manifest("rbac.yaml"), "ClusterRole"))
    wanted = {
        (r["apiVersion"].rpartition("/")[0], _plural(r["kind"]), verb)
        for r in api_source["spec"]["resources"]
        for verb in ("get", "list", "watch")
    }
    assert _grants(roles[api_source["spec"]["serviceAccountName"]]) == wanted


def test_functions_role_is_least_privilege() -> None:
    roles = _by_name(_of_kind(_manifest("rbac.yaml"), "ClusterRole"))
    read = {"get", "list", "watch"}
    own = read | {"create", "update", "patch", "delete"}

    def grants(group: str, resource: str, verbs: set[str]) -> set[tuple[str, str, str]]:
        return {(group, resource, verb) for verb in verbs}

    assert _grants(roles["ferry-functions"]) == (
        grants("ferry.dev", "rollouts", read | {"patch"})
        | grants("ferry.dev", "rollouts/status", {"update", "patch"})
        | grants("ferry.dev", "rollouts/finalizers", {"update"})
        | grants("apps", "deployments", own)
        | grants("apps", "deployments/scale", {"get", "update", "patch"})
        | grants("", "services", own)
        | grants("networking.k8s.io", "ingresses", own)
        | grants("", "events", {"create", "patch"})
        | grants("ferry.dev", "analysistemplates", read)
        | grants("ferry.dev", "clusteranalysistemplates", read)
        | grants("ferry.dev", "analysisruns", own)
        | grants("ferry.dev", "analysisruns/status", {"update", "patch"})
        | grants("ferry.dev", "analysisruns/finalizers", {"update"})
        | grants("batch", "jobs", read | {"create", "delete"})
        | grants("", "secrets", {"get"})
    )
    assert set(roles) == {"ferry-functions", "ferry-source", "ferry-rollout-operator"}


def test_the_operator_role_is_what_kubectl_ferry_needs_and_never_the_spec() -> None:
    roles = _by_name(_of_kind(_manifest("rbac.yaml"), "ClusterRole"))
    granted = _grants(roles["ferry-rollout-operator"])
    writes = {(g, r, v) for g, r, v in granted if v not in ("get", "list", "watch")}
    assert writes == {("ferry.dev", "rollouts/status", "patch")}
    assert ("ferry.dev", "analysisruns", "list") in granted
    assert ("", "events", "list") in granted
