"""RBAC: the ServiceAccounts, ClusterRoles and bindings the workloads and the source use.

Covered: every ServiceAccount used is defined and every one defined is used; every binding
resolves to a role and a ServiceAccount of ferry-system, one role per function ServiceAccount
and the source's (the timer needs no access and mounts no token); no role grants a wildcard;
ferry-source may get, list and watch exactly what the ApiServerSource watches; no bound role
reads Secrets, whose reader role is left for namespaces to bind (that every grant of the
function roles is used, and no more, is proven on a recorded run by
tests/flow/test_least_privilege.py); ferry-rollout-operator reads what kubectl ferry shows
(its tree: ReplicaSets and Pods too) and writes only rollouts/status, never the spec.
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
    assert bound == {
        "ferry-detect",
        "ferry-rollout",
        "ferry-analysis",
        "ferry-experiment",
        "ferry-deadletter",
        "ferry-notify",
        "ferry-trigger",
        "ferry-load",
        "ferry-source",
    }, "the timer needs no access"
    assert (
        _by_name(_of_kind(rbac, "ServiceAccount"))["ferry-timer"]["automountServiceAccountToken"]
        is False
    )


def test_roles_grant_no_wildcards() -> None:
    for role in _of_kind(_manifest("rbac.yaml"), "ClusterRole"):
        for group, resource, verb in _grants(role):
            assert "*" not in (group, resource, verb), role["metadata"]["name"]


def test_source_role_is_exactly_what_the_apiserversources_watch() -> None:
    sources = _of_kind(_manifest("sources.yaml"), "ApiServerSource")
    roles = _by_name(_of_kind(_manifest("rbac.yaml"), "ClusterRole"))
    wanted = {
        (r["apiVersion"].rpartition("/")[0], _plural(r["kind"]), verb)
        for source in sources
        for r in source["spec"]["resources"]
        for verb in ("get", "list", "watch")
    }
    accounts = {source["spec"]["serviceAccountName"] for source in sources}
    assert accounts == {"ferry-source"}
    assert _grants(roles["ferry-source"]) == wanted


def test_no_bound_role_reads_secrets_and_the_reader_is_left_to_namespaces() -> None:
    rbac = _manifest("rbac.yaml")
    roles = _by_name(_of_kind(rbac, "ClusterRole"))
    bound = {b["roleRef"]["name"] for b in _of_kind(rbac, "ClusterRoleBinding")}
    for name in bound:
        assert not {g for g in _grants(roles[name]) if g[1] == "secrets"}, name
    for reader in (
        "ferry-analysis-secret-reader",
        "ferry-notify-secret-reader",
        "ferry-config-secrets",
    ):
        assert reader not in bound
        assert _grants(roles[reader]) == {("", "secrets", "get")}
    assert "ferry-config-secret-copies" not in bound
    assert _grants(roles["ferry-config-secret-copies"]) == {
        ("", "secrets", verb) for verb in ("list", "create", "delete")
    }
    assert roles["ferry-notify-secret-reader"]["rules"][0]["resourceNames"] == [
        "ferry-notifications-secret"
    ]
    assert set(roles) == {
        "ferry-detect",
        "ferry-rollout",
        "ferry-analysis",
        "ferry-analysis-secret-reader",
        "ferry-experiment",
        "ferry-notify",
        "ferry-notify-secret-reader",
        "ferry-trigger",
        "ferry-load",
        "ferry-deadletter",
        "ferry-source",
        "ferry-rollout-operator",
        "ferry-config-secrets",
        "ferry-config-secret-copies",
    }


def test_the_operator_role_is_what_kubectl_ferry_needs_and_never_the_spec() -> None:
    roles = _by_name(_of_kind(_manifest("rbac.yaml"), "ClusterRole"))
    granted = _grants(roles["ferry-rollout-operator"])
    writes = {(g, r, v) for g, r, v in granted if v not in ("get", "list", "watch")}
    assert writes == {("ferry.dev", "rollouts/status", "patch")}
    assert ("ferry.dev", "analysisruns", "list") in granted
    assert ("", "events", "list") in granted
    # the tree of get rollout: the ReplicaSets and Pods of the target and the primary
    assert {("apps", "replicasets", "list"), ("", "pods", "list")} <= granted
