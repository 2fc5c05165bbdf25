"""Authorization: RBAC as kube-apiserver applies it, over HTTP through the official client.

Covered: Roles and RoleBindings (a namespace only), ClusterRoles and ClusterRoleBindings, a
RoleBinding of a ClusterRole (its namespace only); User, Group and ServiceAccount subjects (a
ServiceAccount subject without a namespace is the binding's); ``resourceNames``; subresources
(``patch rollouts/status`` without ``patch rollouts``, ``*/scale``); the verbs a request maps
to (list, watch, deletecollection); the exact 403 Status (namespaced, cluster scope, named,
subresource, non-resource path, a binding to a missing role); discovery for every authenticated
user; the bootstrap ``view``/``edit``/``admin`` roles and ClusterRole aggregation.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from local.sim.cluster import Simulator
from tests.sim.client_calls import (
    NS,
    apps,
    configmap,
    core,
    deployment,
    failure,
    raw,
    rbac,
    refusal,
)
from tests.sim.conftest import eventually
from tests.sim.identities import (
    FERRY,
    acting,
    bind_cluster_role,
    grant,
    group,
    make_service_account,
    rollouts,
    rule,
    service_account,
    user,
    with_rollout,
)

READ = ("get", "list", "watch")


def forbidden(call: Any, *args: Any, **kwargs: Any) -> str:
    """The message of a call that must be refused with 403."""
    code, status = failure(call, *args, **kwargs)
    assert (code, status["reason"], status["code"]) == (403, "Forbidden", 403), status
    message: str = status["message"]
    return message


def test_a_role_grants_its_verbs_in_its_namespace_only(sim: Simulator, api: Any) -> None:
    token = sim.add_user("alice")
    grant(api, "reader", [user("alice")], [rule(READ, ["configmaps"])])
    core(api).create_namespaced_config_map(NS, configmap("settings"))
    alice = core(acting(sim, token))
    assert alice.read_namespaced_config_map("settings", NS).metadata.name == "settings"
    assert [c.metadata.name for c in alice.list_namespaced_config_map(NS).items] == ["settings"]
    assert forbidden(alice.create_namespaced_config_map, NS, configmap("other")) == (
        'configmaps is forbidden: User "alice" cannot create resource "configmaps" in API group '
        '"" in the namespace "default"'
    )
    assert forbidden(alice.list_namespaced_config_map, "kube-public") == (
        'configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group '
        '"" in the namespace "kube-public"'
    )
    assert forbidden(alice.read_namespaced_secret, "token", NS) == (
        'secrets "token" is forbidden: User "alice" cannot get resource "secrets" in API group '
        '"" in the namespace "default"'
    )


def test_the_refusal_names_the_resource(sim: Simulator, api: Any) -> None:
    token = sim.add_user("alice")
    code, status = failure(apps(acting(sim, token)).read_namespaced_deployment, "web", NS)
    assert (code, status) == (
        403,
        refusal(
            'deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments" '
            'in API group "apps" in the namespace "default"',
            name="web",
            group="apps",
            kind="deployments",
        ),
    )


def test_a_cluster_role_binding_grants_everywhere(sim: Simulator, api: Any) -> None:
    token = sim.add_user("alice")
    alice = core(acting(sim, token))
    assert forbidden(alice.list_namespace) == (
        'namespaces is forbidden: User "alice" cannot list resource "namespaces" in API group '
        '"" at the cluster scope'
    )
    grant(api, "ns-reader", [user("alice")], [rule(READ, ["namespaces", "pods"])], None)
    assert "kube-system" in [n.metadata.name for n in alice.list_namespace().items]
    assert alice.list_pod_for_all_namespaces().items == []
    assert alice.list_namespaced_pod("kube-system").items == []


def test_a_role_binding_of_a_cluster_role_grants_in_its_namespace(sim: Simulator, api: Any) -> None:
    token = sim.add_user("alice")
    rbac(api).create_cluster_role(
        {"metadata": {"name": "cm-reader"}, "rules": [rule(READ, ["configmaps"])]}
    )
    bind_cluster_role(api, "cm-reader", "cm-reader", [user("alice")], NS)
    alice = core(acting(sim, token))
    assert alice.list_namespaced_config_map(NS).items == []
    forbidden(alice.list_namespaced_config_map, "kube-system")
    forbidden(alice.list_config_map_for_all_namespaces)


def test_groups_and_service_accounts_are_subjects(sim: Simulator, api: Any) -> None:
    dev = sim.add_user("bob", ["devs"])
    outsider = sim.add_user("eve", ["others"])
    grant(api, "devs", [group("devs")], [rule(["list"], ["configmaps"])])
    assert core(acting(sim, dev)).list_namespaced_config_map(NS).items == []
    forbidden(core(acting(sim, outsider)).list_namespaced_config_map, NS)

    make_service_account(api, "robot")
    robot = sim.service_account_token(NS, "robot")
    grant(api, "robot", [service_account("robot", None)], [rule(["list"], ["secrets"])])
    assert core(acting(sim, robot)).list_namespaced_secret(NS).items == []
    grant(
        api,
        "robot-everywhere",
        [service_account("robot")],
        [rule(["list"], ["services"])],
        None,
    )
    assert core(acting(sim, robot)).list_namespaced_service("kube-system").items == []
    assert forbidden(core(acting(sim, robot)).list_namespaced_secret, "kube-system") == (
        'secrets is forbidden: User "system:serviceaccount:default:robot" cannot list resource '
        '"secrets" in API group "" in the namespace "kube-system"'
    )
    grant(api, "all-sas", [group("system:serviceaccounts")], [rule(["get"], ["pods"])], None)
    assert failure(core(acting(sim, robot)).read_namespaced_pod, "nope", NS)[0] == 404


def test_resource_names_limit_a_rule_to_named_objects(sim: Simulator, api: Any) -> None:
    token = sim.add_user("alice")
    grant(api, "one", [user("alice")], [rule(["get", "update"], ["configmaps"], names=["mine"])])
    for name in ("mine", "theirs"):
        core(api).create_namespaced_config_map(NS, configmap(name))
    alice = core(acting(sim, token))
    assert alice.read_namespaced_config_map("mine", NS).metadata.name == "mine"
    forbidden(alice.read_namespaced_config_map, "theirs", NS)
    forbidden(alice.list_namespaced_config_map, NS)  # a list names no object


def test_a_status_writer_cannot_write_the_rollout(sim: Simulator, api: Any) -> None:
    with_rollout(api)
    token = sim.add_user("ferry-step")
    grant(
        api,
        "status",
        [user("ferry-step")],
        [rule(["get"], ["rollouts"], [FERRY]), rule(["patch"], ["rollouts/status"], [FERRY])],
    )
    step = rollouts(acting(sim, token))
    patched = step.patch_namespaced_custom_object_status(
        FERRY, "v1alpha1", NS, "rollouts", "r", {"status": {"phase": "Progressing"}}
    )
    assert patched["status"] == {"phase": "Progressing"}
    assert forbidden(
        step.patch_namespaced_custom_object,
        FERRY,
        "v1alpha1",
        NS,
        "rollouts",
        "r",
        {"spec": {"strategy": "bluegreen"}},
    ) == (
        'rollouts.ferry.dev "r" is forbidden: User "ferry-step" cannot patch resource "rollouts" '
        'in API group "ferry.dev" in the namespace "default"'
    )
    assert forbidden(
        step.replace_namespaced_custom_object_status,
        FERRY,
        "v1alpha1",
        NS,
        "rollouts",
        "r",
        patched,
    ) == (
        'rollouts.ferry.dev "r" is forbidden: User "ferry-step" cannot update resource '
        '"rollouts/status" in API group "ferry.dev" in the namespace "default"'
    )


def test_a_wildcard_subresource_rule(sim: Simulator, api: Any) -> None:
    apps(api).create_namespaced_deployment(NS, deployment("web"))
    token = sim.add_user("scaler")
    grant(api, "scaler", [user("scaler")], [rule(["get", "patch"], ["*/scale"], ["apps"])])
    scaler = apps(acting(sim, token))
    scaler.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}})
    assert apps(api).read_namespaced_deployment("web", NS).spec.replicas == 3
    forbidden(scaler.patch_namespaced_deployment, "web", NS, {"spec": {"replicas": 1}})


def test_requests_map_to_list_watch_and_deletecollection(sim: Simulator, api: Any) -> None:
    token = sim.add_user("alice")
    grant(api, "lister", [user("alice")], [rule(["list", "delete"], ["configmaps"])])
    alice = core(acting(sim, token))
    alice.list_namespaced_config_map(NS)
    assert "cannot watch resource" in forbidden(
        alice.list_namespaced_config_map, NS, watch=True, timeout_seconds=1
    )
    assert "cannot deletecollection resource" in forbidden(
        alice.delete_collection_namespaced_config_map, NS
    )


def test_a_binding_to_a_missing_role_says_so(sim: Simulator, api: Any) -> None:
    token = sim.add_user("alice")
    bind_cluster_role(api, "dangling", "nope", [user("alice")], None)
    assert forbidden(core(acting(sim, token)).list_namespace) == (
        'namespaces is forbidden: User "alice" cannot list resource "namespaces" in API group "" '
        'at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io "nope" not found'
    )


def test_discovery_is_open_to_authenticated_users_only(sim: Simulator) -> None:
    token = sim.add_user("alice")
    versions: Any = client.CoreApi(acting(sim, token)).get_api_versions()
    assert versions.versions == ["v1"]
    groups: Any = client.ApisApi(acting(sim, token)).get_api_versions()
    assert "rbac.authorization.k8s.io" in [g.name for g in groups.groups]
    version: Any = client.VersionApi(acting(sim, token)).get_code()
    assert version.major == "1"
    code, status = raw(sim, "GET", "/metrics", token=token)
    assert (code, status["message"]) == (403, 'forbidden: User "alice" cannot get path "/metrics"')


def test_bootstrap_roles_view_edit_admin(sim: Simulator, api: Any) -> None:
    roles = {r.metadata.name: r for r in rbac(api).list_cluster_role().items}
    assert {"cluster-admin", "admin", "edit", "view", "system:auth-delegator"} <= set(roles)
    assert roles["cluster-admin"].metadata.labels["kubernetes.io/bootstrapping"] == "rbac-defaults"
    viewer, editor = sim.add_user("viewer"), sim.add_user("editor")
    bind_cluster_role(api, "view", "view", [user("viewer")])
    bind_cluster_role(api, "edit", "edit", [user("editor")])
    assert core(acting(sim, viewer)).list_namespaced_pod(NS).items == []
    forbidden(core(acting(sim, viewer)).create_namespaced_config_map, NS, configmap("c"))
    forbidden(core(acting(sim, viewer)).list_namespaced_secret, NS)
    core(acting(sim, editor)).create_namespaced_config_map(NS, configmap("c"))
    apps(acting(sim, editor)).list_namespaced_deployment(NS)  # view's rules, aggregated into edit
    forbidden(rbac(acting(sim, editor)).list_namespaced_role, NS)  # admin's only
    bindings = {b.metadata.name: b for b in rbac(api).list_cluster_role_binding().items}
    assert [s.name for s in bindings["cluster-admin"].subjects] == ["system:masters"]
    assert [s.name for s in bindings["system:public-info-viewer"].subjects] == [
        "system:authenticated",
        "system:unauthenticated",
    ]


def test_aggregated_cluster_roles_follow_their_labelled_roles(sim: Simulator, api: Any) -> None:
    selector = {"matchLabels": {"ferry.dev/aggregate-to-operator": "true"}}
    rbac(api).create_cluster_role(
        {"metadata": {"name": "operator"}, "aggregationRule": {"clusterRoleSelectors": [selector]}}
    )
    labelled = {"ferry.dev/aggregate-to-operator": "true"}
    rbac(api).create_cluster_role(
        {"metadata": {"name": "b-part", "labels": labelled}, "rules": [rule(["list"], ["pods"])]}
    )
    rbac(api).create_cluster_role(
        {
            "metadata": {"name": "a-part", "labels": labelled},
            "rules": [rule(["get"], ["configmaps"]), rule(["list"], ["pods"])],
        }
    )

    def rules() -> list[Any]:
        found = rbac(api).read_cluster_role("operator").rules or []
        return [(r.verbs, r.resources) for r in found]

    wanted = [(["get"], ["configmaps"]), (["list"], ["pods"])]
    eventually(lambda: rules() == wanted)
    token = sim.add_user("op")
    bind_cluster_role(api, "op", "operator", [user("op")], None)
    assert core(acting(sim, token)).list_namespaced_pod(NS).items == []
    rbac(api).delete_cluster_role("a-part")
    eventually(lambda: rules() == [(["list"], ["pods"])])
    assert raw(sim, "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/operator")[0] == 200
