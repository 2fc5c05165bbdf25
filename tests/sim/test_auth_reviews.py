"""The review APIs, over HTTP through the official client.

Covered: TokenReview of static and ServiceAccount tokens with and without ``spec.audiences``
(a token minted for another audience is reviewable with that audience only), of unknown and
expired tokens (``status.error``); creating TokenReviews needs ``system:auth-delegator``;
SelfSubjectReview; SubjectAccessReview (the RBAC reason of an allowance, a denial, a
non-resource URL, validation); SelfSubjectAccessReview; LocalSubjectAccessReview (its namespace
only); SelfSubjectRulesReview; impersonation (allowed by RBAC, refused with the API server's
403, a ServiceAccount's groups).
"""

from __future__ import annotations

import json
from typing import Any

from local.sim.cluster import Simulator
from tests.sim.client_calls import NS, authn, authz, core, failure, raw
from tests.sim.identities import (
    acting,
    bind_cluster_role,
    grant,
    make_service_account,
    rule,
    user,
)

API = "https://kubernetes.default.svc.cluster.local"


def json_body(obj: dict[str, Any]) -> bytes:
    return json.dumps(dict(obj, apiVersion="authentication.k8s.io/v1", kind="TokenReview")).encode()


def review(api: Any, token: str, audiences: list[str] | None = None) -> Any:
    spec: dict[str, Any] = {"token": token}
    if audiences is not None:
        spec["audiences"] = audiences
    return authn(api).create_token_review({"spec": spec}).status


def test_token_review_of_a_static_user(sim: Simulator, api: Any) -> None:
    token = sim.add_user("alice", ["devs"])
    status = review(api, token)
    assert status.authenticated is True
    assert status.user.username == "alice"
    assert status.user.groups == ["devs", "system:authenticated"]
    assert API in status.audiences
    assert review(api, token, [API]).audiences == [API]
    refused = review(api, token, ["vault"])  # a static token is good for the API only
    assert (refused.authenticated, refused.error) == (None, "invalid bearer token")


def test_token_review_with_audiences(sim: Simulator, api: Any) -> None:
    account = make_service_account(api, "robot")
    token = sim.service_account_token(NS, "robot", audiences=["vault", "ferry"])
    refused = review(api, token)  # the API server's own audiences
    assert refused.authenticated is None
    assert refused.error == (
        '[invalid bearer token, token audiences ["vault" "ferry"] is invalid for the target '
        'audiences ["https://kubernetes.default.svc.cluster.local" '
        '"https://kubernetes.default.svc"]]'
    )
    status = review(api, token, ["ferry"])
    assert status.authenticated is True
    assert status.audiences == ["ferry"]
    assert status.user.username == "system:serviceaccount:default:robot"
    assert status.user.uid == account.metadata.uid
    assert status.user.groups == [
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    ]


def test_token_review_of_unknown_and_dead_tokens(sim: Simulator, api: Any) -> None:
    assert review(api, "nonsense").error == "invalid bearer token"
    make_service_account(api, "robot")
    token = sim.service_account_token(NS, "robot")
    core(api).delete_namespaced_service_account("robot", NS)
    assert review(api, token).error == ('[invalid bearer token, serviceaccount "robot" not found]')
    code, body = raw(
        sim, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", json_body({"spec": {}})
    )
    assert code == 201
    assert body["status"] == {"user": {}, "error": "invalid bearer token"}


def test_token_reviews_need_the_auth_delegator_role(sim: Simulator, api: Any) -> None:
    token = sim.add_user("gateway")
    code, status = failure(authn(acting(sim, token)).create_token_review, {"spec": {"token": "x"}})
    assert (code, status["message"]) == (
        403,
        'tokenreviews.authentication.k8s.io is forbidden: User "gateway" cannot create resource '
        '"tokenreviews" in API group "authentication.k8s.io" at the cluster scope',
    )
    bind_cluster_role(api, "gateway", "system:auth-delegator", [user("gateway")], None)
    assert review(acting(sim, token), token).user.username == "gateway"
    access = authz(acting(sim, token)).create_subject_access_review(
        {"spec": {"user": "x", "resourceAttributes": {"verb": "get", "resource": "pods"}}}
    )
    assert access.status.allowed is False


def test_subject_access_review(sim: Simulator, api: Any) -> None:
    grant(api, "reader", [user("alice")], [rule(["get"], ["configmaps"])])
    allowed = authz(api).create_subject_access_review(
        {
            "spec": {
                "user": "alice",
                "resourceAttributes": {
                    "namespace": NS,
                    "verb": "get",
                    "resource": "configmaps",
                    "name": "x",
                },
            }
        }
    )
    assert allowed.status.allowed is True
    assert allowed.status.reason == (
        'RBAC: allowed by RoleBinding "reader/default" of Role "reader" to User "alice"'
    )
    denied = authz(api).create_subject_access_review(
        {
            "spec": {
                "user": "alice",
                "resourceAttributes": {
                    "namespace": "kube-system",
                    "verb": "get",
                    "resource": "configmaps",
                },
            }
        }
    )
    assert denied.status.allowed is False
    assert denied.status.reason is None
    masters = authz(api).create_subject_access_review(
        {
            "spec": {
                "groups": ["system:masters"],
                "nonResourceAttributes": {"path": "/x", "verb": "get"},
            }
        }
    )
    assert masters.status.allowed is True
    discovery = authz(api).create_subject_access_review(
        {
            "spec": {
                "user": "bob",
                "groups": ["system:authenticated"],
                "nonResourceAttributes": {"path": "/apis/apps", "verb": "get"},
            }
        }
    )
    assert discovery.status.reason == (
        'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" '
        'to Group "system:authenticated"'
    )
    code, status = failure(
        authz(api).create_subject_access_review,
        {"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}},
    )
    assert (code, status["message"]) == (
        422,
        'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": '
        "at least one of user or group must be specified",
    )


def test_self_and_local_subject_access_reviews(sim: Simulator, api: Any) -> None:
    token = sim.add_user("alice")
    grant(api, "lister", [user("alice")], [rule(["list"], ["pods"])])
    alice = authz(acting(sim, token))

    def can(verb: str, namespace: str) -> bool:
        attributes = {"namespace": namespace, "verb": verb, "resource": "pods"}
        answer = alice.create_self_subject_access_review(
            {"spec": {"resourceAttributes": attributes}}
        )
        return bool(answer.status.allowed)

    assert (can("list", NS), can("list", "kube-system"), can("delete", NS)) == (True, False, False)
    local = authz(api).create_namespaced_local_subject_access_review(
        NS, {"spec": {"user": "alice", "resourceAttributes": {"verb": "list", "resource": "pods"}}}
    )
    assert local.status.allowed is True
    assert local.spec.resource_attributes.namespace == NS
    code, status = failure(
        authz(api).create_namespaced_local_subject_access_review,
        NS,
        {
            "spec": {
                "user": "alice",
                "resourceAttributes": {
                    "namespace": "kube-system",
                    "verb": "list",
                    "resource": "pods",
                },
            }
        },
    )
    assert (code, status["reason"]) == (400, "BadRequest")


def test_self_subject_rules_review(sim: Simulator, api: Any) -> None:
    token = sim.add_user("alice")
    grant(api, "lister", [user("alice")], [rule(["list"], ["pods"], names=["p"])])
    rules = authz(acting(sim, token)).create_self_subject_rules_review({"spec": {"namespace": NS}})
    resources = [(r.verbs, r.resources, r.resource_names) for r in rules.status.resource_rules]
    assert (["list"], ["pods"], ["p"]) in resources
    assert (["create"], ["selfsubjectreviews"], None) in resources
    urls = {u for r in rules.status.non_resource_rules for u in r.non_resource_urls}
    assert {"/api", "/version", "/healthz"} <= urls
    assert rules.status.incomplete is False


def test_impersonation_needs_rbac(sim: Simulator, api: Any) -> None:
    token = sim.add_user("bob")
    headers = {"Impersonate-User": "alice"}
    bob = acting(sim, token)
    code, status = failure(authn(bob).create_self_subject_review, {}, _headers=headers)
    assert (code, status["message"]) == (
        403,
        'users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group '
        '"" at the cluster scope',
    )
    grant(api, "as-alice", [user("bob")], [rule(["impersonate"], ["users"], names=["alice"])], None)
    me = authn(bob).create_self_subject_review({}, _headers=headers).status.user_info
    assert (me.username, me.groups) == ("alice", ["system:authenticated"])
    robot = {"Impersonate-User": "system:serviceaccount:default:robot"}
    me = authn(api).create_self_subject_review({}, _headers=robot).status.user_info
    assert me.groups == [
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    ]
    assert sim.audit()[-1].impersonator == "system:admin"
    code, _ = failure(
        authn(api).create_self_subject_review, {}, _headers={"Impersonate-Group": "x"}
    )
    assert code == 400
