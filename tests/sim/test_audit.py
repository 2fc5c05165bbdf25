"""The audit trail: every request served, with who made it, what it asked and how it ended.

Covered: records of a ServiceAccount's run through the official client (list, get of a missing
object, a refused create, a status patch, a watch) with user, groups, verb, API group,
resource, subresource, namespace, name and HTTP code; non-resource requests by path; a refused
token recorded without a user; local admin access; clearing the trail; deriving from a
recorded run the verbs each ServiceAccount really used; no credential is recorded.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kubernetes import client

from local.sim.cluster import Simulator
from tests.sim.client_calls import NS, configmap, core, failure, raw
from tests.sim.identities import (
    FERRY,
    acting,
    grant,
    make_service_account,
    rollouts,
    rule,
    service_account,
    with_rollout,
)


def run_as_robot(sim: Simulator, api: client.ApiClient) -> str:
    with_rollout(api)
    make_service_account(api, "robot")
    grant(
        api,
        "robot",
        [service_account("robot")],
        [
            rule(["get", "list", "watch"], ["configmaps"]),
            rule(["patch"], ["rollouts/status"], [FERRY]),
        ],
    )
    token = sim.service_account_token(NS, "robot")
    sim.clear_audit()
    robot = acting(sim, token)
    core(robot).list_namespaced_config_map(NS)
    failure(core(robot).read_namespaced_config_map, "missing", NS)
    failure(core(robot).create_namespaced_config_map, NS, configmap("c"))
    rollouts(robot).patch_namespaced_custom_object_status(
        FERRY, "v1alpha1", NS, "rollouts", "r", {"status": {"phase": "Progressing"}}
    )
    core(robot).list_namespaced_config_map(
        NS, watch=True, timeout_seconds=1, _preload_content=False
    ).read()
    return token


def test_each_request_is_recorded(sim: Simulator, api: client.ApiClient) -> None:
    run_as_robot(sim, api)
    seen = [
        (r.verb, r.api_group, r.resource, r.subresource, r.namespace, r.name, r.code)
        for r in sim.audit()
    ]
    assert seen == [
        ("list", "", "configmaps", "", NS, "", 200),
        ("get", "", "configmaps", "", NS, "missing", 404),
        ("create", "", "configmaps", "", NS, "", 403),
        ("patch", FERRY, "rollouts", "status", NS, "r", 200),
        ("watch", "", "configmaps", "", NS, "", 200),
    ]
    record = sim.audit()[0]
    assert record.user == "system:serviceaccount:default:robot"
    assert record.groups == (
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    )
    assert record.uid and record.method == "GET" and record.api_version == "v1"
    assert record.path == "/api/v1/namespaces/default/configmaps"
    assert record.to_json()["apiGroup"] == ""


def test_the_verbs_a_service_account_used(sim: Simulator, api: client.ApiClient) -> None:
    run_as_robot(sim, api)
    used: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for record in sim.audit():
        if record.user.startswith("system:serviceaccount:") and record.code < 400:
            resource = "/".join(filter(None, (record.resource, record.subresource)))
            used[record.user].add((record.verb, record.api_group, resource))
    assert dict(used) == {
        "system:serviceaccount:default:robot": {
            ("list", "", "configmaps"),
            ("watch", "", "configmaps"),
            ("patch", FERRY, "rollouts/status"),
        }
    }


def test_refusals_non_resource_requests_and_local_admin(sim: Simulator, api: Any) -> None:
    sim.clear_audit()
    assert sim.audit() == []
    token = sim.add_user("alice")
    raw(sim, "GET", "/version", token=token)
    failure(core(acting(sim, "bogus")).list_namespace)
    core(api).read_namespace(NS)
    version, refused, admin = sim.audit()
    assert (version.user, version.verb, version.path, version.resource, version.code) == (
        "alice",
        "get",
        "/version",
        "",
        200,
    )
    assert not version.resource_request
    assert (refused.user, refused.groups, refused.verb, refused.code) == ("", (), "list", 401)
    assert (admin.user, admin.resource, admin.namespace, admin.name) == (
        "system:admin",
        "namespaces",
        NS,
        NS,
    )


def test_no_credential_is_recorded(sim: Simulator, api: client.ApiClient) -> None:
    token = run_as_robot(sim, api)
    assert all(token not in repr(record.to_json()) for record in sim.audit())
