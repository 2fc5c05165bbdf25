"""CRUD through the official client: discovery, server-set metadata, errors, names and lists.

Covered: discovery (version, API groups, resource lists with short names and subresources, the
dynamic client); CRUD of ConfigMaps, Secrets, Services and Deployments with server-set metadata;
the cluster-wide resourceVersion and optimistic concurrency (409 Conflict, 409 AlreadyExists);
generation; Status bodies for 404s; the errors for bodies the simulator cannot read (protobuf,
malformed JSON); generateName; label and field selectors; paging; dry run.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from local.sim.cluster import Simulator
from tests.sim.client_calls import (
    GROUP,
    NS,
    apps,
    configmap,
    core,
    custom,
    deployment,
    dynamic_client,
    failure,
    raw,
)

# ----------------------------------------------------------------------------- discovery


def test_version_and_api_groups(api: client.ApiClient) -> None:
    version = client.VersionApi(api).get_code()
    assert (version.major, version.minor) == ("1", "32")
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "batch", "apiextensions.k8s.io"} <= set(groups)
    preferred = groups["apps"].preferred_version
    assert preferred is not None and preferred.group_version == "apps/v1"


def test_resource_lists_carry_short_names_and_subresources(api: client.ApiClient) -> None:
    core_list = {r.name: r for r in core(api).get_api_resources().resources}
    assert core_list["configmaps"].short_names == ["cm"]
    assert core_list["configmaps"].namespaced is True
    assert core_list["namespaces"].namespaced is False
    assert "pods/status" in core_list
    apps_list = {r.name: r for r in apps(api).get_api_resources().resources}
    assert apps_list["deployments"].short_names == ["deploy"]
    assert "watch" in apps_list["deployments"].verbs
    scale = apps_list["deployments/scale"]
    assert (scale.group, scale.version, scale.kind) == ("autoscaling", "v1", "Scale")


def test_dynamic_client_discovers_and_writes(api: client.ApiClient) -> None:
    dyn = dynamic_client(api)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert set(deployments.subresources) == {"status", "scale"}
    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    created = configmaps.create(body=configmap("dyn", a="1"), namespace=NS)
    assert created.metadata.uid
    fetched = configmaps.get(name="dyn", namespace=NS)
    assert fetched.data.a == "1"
    configmaps.delete(name="dyn", namespace=NS)
    status, _ = failure(configmaps.get, name="dyn", namespace=NS)
    assert status == 404


# ----------------------------------------------------------------------------- CRUD


def test_configmap_crud(api: client.ApiClient) -> None:
    v1 = core(api)
    created = v1.create_namespaced_config_map(NS, configmap("app", a="1"))
    assert created.data == {"a": "1"}
    created.data["b"] = "2"
    replaced = v1.replace_namespaced_config_map("app", NS, created)
    assert replaced.data == {"a": "1", "b": "2"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    assert [c.metadata.name for c in v1.list_namespaced_config_map(NS).items] == ["app"]
    v1.delete_namespaced_config_map("app", NS)
    assert v1.list_namespaced_config_map(NS).items == []


def test_created_objects_get_uid_timestamp_and_resource_version(api: client.ApiClient) -> None:
    first = core(api).create_namespaced_config_map(NS, configmap("one"))
    second = core(api).create_namespaced_config_map(NS, configmap("two"))
    assert first.metadata.uid and second.metadata.uid and first.metadata.uid != second.metadata.uid
    assert first.metadata.creation_timestamp is not None
    assert first.metadata.namespace == NS


def test_resource_version_is_cluster_wide_and_monotonic(api: client.ApiClient) -> None:
    core(api).create_namespace({"metadata": {"name": "other"}})
    versions = [
        core(api).create_namespaced_config_map(NS, configmap("a")).metadata.resource_version,
        core(api)
        .create_namespaced_secret("other", {"metadata": {"name": "s"}})
        .metadata.resource_version,
        apps(api).create_namespaced_deployment(NS, deployment("web")).metadata.resource_version,
        core(api)
        .patch_namespaced_config_map("a", NS, {"data": {"x": "1"}})
        .metadata.resource_version,
    ]
    numbers = [int(v) for v in versions]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    listed = core(api).list_config_map_for_all_namespaces().metadata.resource_version
    assert int(listed) >= numbers[-1]


def test_secret_string_data_is_stored_as_base64_data(api: client.ApiClient) -> None:
    body = {"metadata": {"name": "creds"}, "stringData": {"password": "hunter2"}}
    created = core(api).create_namespaced_secret(NS, body)
    assert created.data == {"password": "aHVudGVyMg=="}
    assert created.string_data is None
    assert created.type == "Opaque"


def test_service_gets_a_cluster_ip_that_survives_replace(api: client.ApiClient) -> None:
    def service(name: str) -> dict[str, Any]:
        spec = {"selector": {"app": name}, "ports": [{"port": 80}]}
        return {"metadata": {"name": name}, "spec": spec}

    first = core(api).create_namespaced_service(NS, service("web"))
    second = core(api).create_namespaced_service(NS, service("api"))
    assert first.spec.cluster_ip and second.spec.cluster_ip
    assert first.spec.cluster_ip != second.spec.cluster_ip
    assert first.spec.ports[0].target_port == 80
    body = service("web")
    body["metadata"]["resourceVersion"] = first.metadata.resource_version
    replaced = core(api).replace_namespaced_service("web", NS, body)
    assert replaced.spec.cluster_ip == first.spec.cluster_ip


def test_deployment_crud_with_defaults(bare: client.ApiClient) -> None:
    api = bare
    created = apps(api).create_namespaced_deployment(NS, deployment("web", "nginx:1"))
    assert created.spec.strategy.type == "RollingUpdate"
    assert created.metadata.generation == 1
    created.spec.template.spec.containers[0].image = "nginx:2"
    replaced = apps(api).replace_namespaced_deployment("web", NS, created)
    assert replaced.spec.template.spec.containers[0].image == "nginx:2"
    apps(api).delete_namespaced_deployment("web", NS)
    status, _ = failure(apps(api).read_namespaced_deployment, "web", NS)
    assert status == 404


def test_generation_moves_with_spec_changes_only(bare: client.ApiClient) -> None:
    api = bare
    a = apps(api)
    a.create_namespaced_deployment(NS, deployment("web"))
    labelled = a.patch_namespaced_deployment("web", NS, {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 1
    status = a.patch_namespaced_deployment_status("web", NS, {"status": {"replicas": 3}})
    assert status.metadata.generation == 1
    assert int(status.metadata.resource_version) > int(labelled.metadata.resource_version)
    scaled = a.patch_namespaced_deployment("web", NS, {"spec": {"replicas": 4}})
    assert scaled.metadata.generation == 2


# ----------------------------------------------------------------------------- errors


def test_replace_with_stale_resource_version_is_a_conflict(api: client.ApiClient) -> None:
    v1 = core(api)
    stale = v1.create_namespaced_config_map(NS, configmap("cm", a="1"))
    v1.patch_namespaced_config_map("cm", NS, {"data": {"a": "2"}})
    stale.data["a"] = "3"
    status, body = failure(v1.replace_namespaced_config_map, "cm", NS, stale)
    assert status == 409
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Conflict", 409)
    assert "the object has been modified" in body["message"]
    assert v1.read_namespaced_config_map("cm", NS).data == {"a": "2"}


def test_a_patch_carrying_a_resource_version_is_a_precondition(api: client.ApiClient) -> None:
    v1 = core(api)
    rv = v1.create_namespaced_config_map(NS, configmap("cm", a="1")).metadata.resource_version
    v1.patch_namespaced_config_map("cm", NS, {"data": {"a": "2"}})
    stale = {"metadata": {"resourceVersion": rv}, "data": {"a": "3"}}
    status, body = failure(v1.patch_namespaced_config_map, "cm", NS, stale)
    assert (status, body["reason"]) == (409, "Conflict")
    assert v1.read_namespaced_config_map("cm", NS).data == {"a": "2"}


def test_creating_an_existing_object_is_already_exists(api: client.ApiClient) -> None:
    core(api).create_namespaced_config_map(NS, configmap("cm"))
    status, body = failure(core(api).create_namespaced_config_map, NS, configmap("cm"))
    assert status == 409
    assert body["reason"] == "AlreadyExists"
    assert body["details"] == {"name": "cm", "group": "", "kind": "configmaps"}


def test_missing_object_is_not_found_with_a_status_body(api: client.ApiClient) -> None:
    status, body = failure(core(api).read_namespaced_config_map, "nope", NS)
    assert status == 404
    assert body["reason"] == "NotFound"
    assert body["message"] == 'configmaps "nope" not found'


def test_unknown_resource_type_is_not_found(api: client.ApiClient) -> None:
    status, body = failure(custom(api).list_namespaced_custom_object, GROUP, "v1", NS, "gadgets")
    assert status == 404
    assert (body["kind"], body["reason"]) == ("Status", "NotFound")


def test_protobuf_body_is_unsupported_media_type(sim: Simulator) -> None:
    status, body = raw(
        sim,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        b"k8s\x00\n\x0f\n\x02v1\x12\tConfigMap",
        "application/vnd.kubernetes.protobuf",
    )
    assert status == 415
    assert body["reason"] == "UnsupportedMediaType"
    assert "protobuf" in body["message"]


def test_malformed_json_is_a_bad_request(sim: Simulator) -> None:
    status, body = raw(sim, "POST", "/api/v1/namespaces/default/configmaps", b'{"metadata": ')
    assert status == 400
    assert (body["kind"], body["reason"]) == ("Status", "BadRequest")


# ----------------------------------------------------------------------------- names and lists


def test_generate_name_gives_unique_names(api: client.ApiClient) -> None:
    body = {"metadata": {"generateName": "job-"}}
    names = {core(api).create_namespaced_config_map(NS, body).metadata.name for _ in range(5)}
    assert len(names) == 5
    assert all(name.startswith("job-") and len(name) > 4 for name in names)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=web", ["a"]),
        ("tier!=web", ["b", "c"]),
        ("tier in (web,db)", ["a", "b"]),
        ("tier notin (web,db)", ["c"]),
        ("canary", ["b"]),
        ("!canary", ["a", "c"]),
        ("tier=db,canary", ["b"]),
    ],
)
def test_label_selectors(api: client.ApiClient, selector: str, expected: list[str]) -> None:
    v1 = core(api)
    v1.create_namespaced_config_map(NS, configmap("a", {"tier": "web"}))
    v1.create_namespaced_config_map(NS, configmap("b", {"tier": "db", "canary": "true"}))
    v1.create_namespaced_config_map(NS, configmap("c"))
    items = v1.list_namespaced_config_map(NS, label_selector=selector).items
    assert [i.metadata.name for i in items] == expected


def test_bad_label_selector_is_a_bad_request(api: client.ApiClient) -> None:
    status, body = failure(core(api).list_namespaced_config_map, NS, label_selector="a in (")
    assert status == 400
    assert body["reason"] == "BadRequest"


def test_field_selectors(api: client.ApiClient) -> None:
    v1 = core(api)
    v1.create_namespace({"metadata": {"name": "other"}})
    v1.create_namespaced_config_map(NS, configmap("a"))
    v1.create_namespaced_config_map(NS, configmap("b"))
    v1.create_namespaced_config_map("other", configmap("a"))
    by_name = v1.list_config_map_for_all_namespaces(field_selector="metadata.name=a").items
    assert sorted(i.metadata.namespace for i in by_name) == [NS, "other"]
    in_other = v1.list_config_map_for_all_namespaces(field_selector="metadata.namespace=other")
    assert [(i.metadata.namespace, i.metadata.name) for i in in_other.items] == [("other", "a")]
    not_a = v1.list_namespaced_config_map(NS, field_selector="metadata.name!=a").items
    assert [i.metadata.name for i in not_a] == ["b"]


def test_paging_with_limit_and_continue(api: client.ApiClient) -> None:
    v1 = core(api)
    for i in range(7):
        v1.create_namespaced_config_map(NS, configmap(f"cm-{i}"))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = v1.list_namespaced_config_map(NS, limit=3, _continue=token)
        pages += 1
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert pages == 3
    assert seen == [f"cm-{i}" for i in range(7)]


# ----------------------------------------------------------------------------- dry run


def test_dry_run_writes_nothing(api: client.ApiClient) -> None:
    v1 = core(api)
    would_be = v1.create_namespaced_config_map(NS, configmap("cm", a="1"), dry_run="All")
    assert would_be.metadata.uid and would_be.data == {"a": "1"}
    status, _ = failure(v1.read_namespaced_config_map, "cm", NS)
    assert status == 404
    rv = v1.create_namespaced_config_map(NS, configmap("cm", a="1")).metadata.resource_version
    patched = v1.patch_namespaced_config_map("cm", NS, {"data": {"a": "2"}}, dry_run="All")
    assert patched.data == {"a": "2"}
    v1.delete_namespaced_config_map("cm", NS, dry_run="All")
    stored = v1.read_namespaced_config_map("cm", NS)
    assert (stored.data, stored.metadata.resource_version) == ({"a": "1"}, rv)
    status, body = failure(
        v1.create_namespaced_config_map, NS, configmap("x"), dry_run="Everything"
    )
    assert (status, body["reason"]) == (400, "BadRequest")
