"""The simulator as the official ``kubernetes`` Python client sees it, over HTTP.

Covers: discovery (version, API groups, resource lists with short names and subresources, the
dynamic client); CRUD of ConfigMaps, Secrets, Services and Deployments with server-set metadata;
the cluster-wide resourceVersion and optimistic concurrency (409 Conflict, 409 AlreadyExists,
lost-update freedom under concurrent writers); generation; Status bodies for 404s; generateName;
label and field selectors; paging; merge, JSON and strategic merge patches; status and scale
subresources; watches (ordering, 410 Gone, bookmarks, timeouts, many watchers); finalizers;
CustomResourceDefinitions (serving, schema validation and pruning, subresources, removal); and
the errors for bodies the simulator cannot read (protobuf, malformed JSON).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.exceptions import ApiException

from local.sim import server
from local.sim.cluster import Simulator
from tests.sim.conftest import FAST, eventually

NS = "default"
watching: Any = watch  # untyped parts of the client
dynamic_client: Any = dynamic.DynamicClient
GROUP = "example.com"


# ----------------------------------------------------------------------------- helpers


# The client's pydantic signatures want model instances and Optional-check every field; the
# tests pass plain dicts (as Ferry does) and read fields they know are set, so the API objects
# are used untyped.


def core(api: client.ApiClient) -> Any:
    return client.CoreV1Api(api)


def apps(api: client.ApiClient) -> Any:
    return client.AppsV1Api(api)


def custom(api: client.ApiClient) -> Any:
    return client.CustomObjectsApi(api)


def status_body(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body or "null")
    return body


def failure(call: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """The HTTP status and decoded Status body of a call that must fail."""
    with pytest.raises(ApiException) as info:
        call(*args, **kwargs)
    return info.value.status, status_body(info.value)


def raw(
    sim: Simulator,
    method: str,
    path: str,
    body: bytes | None = None,
    ctype: str = "application/json",
) -> tuple[int, dict[str, Any]]:
    """A plain HTTP request, for bodies the official client cannot produce."""
    req = urllib.request.Request(
        sim.url + path, data=body, method=method, headers={"Content-Type": ctype}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


def deployment(name: str, *images: str, replicas: int = 1) -> dict[str, Any]:
    containers = [
        {"name": f"c{i}", "image": image} for i, image in enumerate(images or ("nginx:1",))
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}},
        },
    }


def widget_crd(
    plural: str = "widgets",
    kind: str = "Widget",
    *,
    scope: str = "Namespaced",
    subresources: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": subresources or {},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {
                                        "size": {"type": "integer", "minimum": 1},
                                        "replicas": {"type": "integer"},
                                        "color": {"type": "string", "default": "blue"},
                                    },
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {
                                        "phase": {"type": "string"},
                                        "replicas": {"type": "integer"},
                                    },
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


def create_crd(api: client.ApiClient, body: dict[str, Any]) -> None:
    extensions: Any = client.ApiextensionsV1Api(api)
    extensions.create_custom_resource_definition(body)


def widget(name: str, size: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": size, **spec},
    }


def stream_events(resp: Any, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Read ``count`` events from a raw watch response (``_preload_content=False``)."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    for line in watching.watch.iter_resp_lines(resp):
        if line:
            events.append(json.loads(line))
        if len(events) >= count or time.monotonic() > deadline:
            break
    return events


@pytest.fixture
def small_history() -> Iterator[Simulator]:
    with Simulator(settings=FAST, history=5, controllers=False) as simulator:
        yield simulator


@pytest.fixture
def quiet() -> Iterator[Simulator]:
    """A simulator without controllers: nobody writes but the test."""
    with Simulator(settings=FAST, controllers=False) as simulator:
        yield simulator


@pytest.fixture
def bare(quiet: Simulator) -> Iterator[client.ApiClient]:
    """A client of :func:`quiet`, for workload objects no controller should touch."""
    with quiet.api_client() as api:
        yield api


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


# ----------------------------------------------------------------------------- patches


def test_merge_patch(api: client.ApiClient) -> None:
    core(api).create_namespaced_config_map(NS, configmap("cm", a="1", b="2"))
    patched = core(api).patch_namespaced_config_map(
        "cm", NS, {"data": {"a": None, "c": "3"}}, _content_type="application/merge-patch+json"
    )
    assert patched.data == {"b": "2", "c": "3"}


def test_json_patch(api: client.ApiClient) -> None:
    core(api).create_namespaced_config_map(NS, configmap("cm", a="1"))
    ops = [
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "replace", "path": "/data/a", "value": "2"},
        {"op": "add", "path": "/metadata/labels", "value": {"x": "y"}},
    ]
    patched = core(api).patch_namespaced_config_map("cm", NS, ops)
    assert patched.data == {"a": "2"}
    assert patched.metadata.labels == {"x": "y"}
    failing = [{"op": "test", "path": "/data/a", "value": "1"}]
    status, _ = failure(core(api).patch_namespaced_config_map, "cm", NS, failing)
    assert status == 422


def test_strategic_merge_patch_changes_one_container_by_name(api: client.ApiClient) -> None:
    apps(api).create_namespaced_deployment(NS, deployment("web", "nginx:1", "sidecar:1"))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c0", "image": "nginx:2"}]}}}}
    patched = apps(api).patch_namespaced_deployment(
        "web", NS, patch, _content_type="application/strategic-merge-patch+json"
    )
    images = [(c.name, c.image) for c in patched.spec.template.spec.containers]
    assert images == [("c0", "nginx:2"), ("c1", "sidecar:1")]
    assert patched.metadata.generation == 2


def test_strategic_merge_patch_on_a_custom_resource_is_unsupported(api: client.ApiClient) -> None:
    create_crd(api, widget_crd())
    custom(api).create_namespaced_custom_object(GROUP, "v1", NS, "widgets", widget("w"))
    status, body = failure(
        custom(api).patch_namespaced_custom_object,
        GROUP,
        "v1",
        NS,
        "widgets",
        "w",
        {"spec": {"size": 2}},
        _content_type="application/strategic-merge-patch+json",
    )
    assert status == 415
    assert body["reason"] == "UnsupportedMediaType"
    patched = custom(api).patch_namespaced_custom_object(
        GROUP, "v1", NS, "widgets", "w", {"spec": {"size": 2}}
    )
    assert patched["spec"]["size"] == 2


# ----------------------------------------------------------------------------- subresources


def test_status_subresource_writes_only_status(bare: client.ApiClient) -> None:
    api = bare
    a = apps(api)
    created = a.create_namespaced_deployment(NS, deployment("web"))
    body = a.read_namespaced_deployment("web", NS).to_dict()
    body["status"] = {"replicas": 5, "observedGeneration": 1}
    body["spec"]["replicas"] = 9
    written = a.replace_namespaced_deployment_status("web", NS, body)
    assert written.status.replicas == 5
    assert written.spec.replicas == created.spec.replicas
    main = a.read_namespaced_deployment("web", NS).to_dict()
    main["status"] = {"replicas": 0}
    main["spec"]["replicas"] = 2
    updated = a.replace_namespaced_deployment("web", NS, main)
    assert updated.spec.replicas == 2
    assert updated.status.replicas == 5


def test_status_in_a_create_body_is_ignored(api: client.ApiClient) -> None:
    body = deployment("web")
    body["status"] = {"replicas": 7}
    created = apps(api).create_namespaced_deployment(NS, body)
    assert created.status is None or created.status.replicas is None


def test_deployment_scale_subresource(bare: client.ApiClient) -> None:
    api = bare
    a = apps(api)
    a.create_namespaced_deployment(NS, deployment("web", replicas=2))
    scale = a.read_namespaced_deployment_scale("web", NS)
    assert (scale.kind, scale.spec.replicas, scale.status.selector) == ("Scale", 2, "app=web")
    scale.spec.replicas = 5
    assert a.replace_namespaced_deployment_scale("web", NS, scale).spec.replicas == 5
    assert a.read_namespaced_deployment("web", NS).spec.replicas == 5
    patched = a.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 1}})
    assert patched.spec.replicas == 1
    assert a.read_namespaced_deployment("web", NS).metadata.generation == 3
    scale.spec.replicas = 8  # carries a stale resourceVersion
    status, body = failure(a.replace_namespaced_deployment_scale, "web", NS, scale)
    assert (status, body["reason"]) == (409, "Conflict")


# ----------------------------------------------------------------------------- watch


def test_watch_from_a_resource_version_replays_changes_in_order(api: client.ApiClient) -> None:
    v1 = core(api)
    start = v1.list_namespaced_config_map(NS).metadata.resource_version
    v1.create_namespaced_config_map(NS, configmap("cm", a="1"))
    v1.patch_namespaced_config_map("cm", NS, {"data": {"a": "2"}})
    v1.delete_namespaced_config_map("cm", NS)
    w = watching.Watch()
    seen = []
    for event in w.stream(
        v1.list_namespaced_config_map, NS, resource_version=start, timeout_seconds=5
    ):
        seen.append((event["type"], event["object"].metadata.name, event["object"].data))
        if len(seen) == 3:
            w.stop()
    assert seen == [
        ("ADDED", "cm", {"a": "1"}),
        ("MODIFIED", "cm", {"a": "2"}),
        ("DELETED", "cm", {"a": "2"}),
    ]


def test_watch_delivers_live_changes(sim: Simulator, api: client.ApiClient) -> None:
    v1 = core(api)
    resp = v1.list_namespaced_config_map(
        NS, watch=True, label_selector="app=x", timeout_seconds=5, _preload_content=False
    )
    v1.create_namespaced_config_map(NS, configmap("other"))
    v1.create_namespaced_config_map(NS, configmap("cm", {"app": "x"}))
    events = stream_events(resp, 1)
    resp.release_conn()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "cm")]


def test_watch_from_a_compacted_resource_version_is_gone(small_history: Simulator) -> None:
    with small_history.api_client() as api:
        v1 = core(api)
        start = v1.list_namespaced_config_map(NS).metadata.resource_version
        for i in range(8):
            v1.create_namespaced_config_map(NS, configmap(f"cm-{i}"))
        resp = v1.list_namespaced_config_map(
            NS, watch=True, resource_version=start, timeout_seconds=5, _preload_content=False
        )
        events = stream_events(resp, 1)
        resp.release_conn()
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    error = events[0]["object"]
    assert (error["kind"], error["code"], error["reason"]) == ("Status", 410, "Expired")


def test_watch_sends_bookmarks_when_asked(
    api: client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "BOOKMARK_EVERY", 0.05)
    v1 = core(api)
    v1.create_namespaced_config_map(NS, configmap("cm"))
    rv = v1.list_namespaced_config_map(NS).metadata.resource_version
    resp = v1.list_namespaced_config_map(
        NS,
        watch=True,
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=5,
        _preload_content=False,
    )
    events = stream_events(resp, 1)
    resp.release_conn()
    assert events[0]["type"] == "BOOKMARK"
    assert events[0]["object"]["kind"] == "ConfigMap"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= int(rv)


def test_watch_ends_after_timeout_seconds(api: client.ApiClient) -> None:
    v1 = core(api)
    rv = v1.list_namespaced_config_map(NS).metadata.resource_version
    started = time.monotonic()
    resp = v1.list_namespaced_config_map(
        NS, watch=True, resource_version=rv, timeout_seconds=1, _preload_content=False
    )
    lines = list(watching.watch.iter_resp_lines(resp))
    elapsed = time.monotonic() - started
    assert lines == []
    assert 0.9 <= elapsed < 3


def test_twenty_concurrent_watchers_see_every_event(quiet: Simulator) -> None:
    sim = quiet
    writes = 10
    baseline = sim.store.watcher_count
    results: dict[int, list[str]] = {}
    clients = [sim.api_client() for _ in range(20)]

    def watcher(i: int) -> None:
        resp = core(clients[i]).list_namespaced_config_map(
            NS, watch=True, resource_version="0", timeout_seconds=10, _preload_content=False
        )
        events = stream_events(resp, writes, timeout=10)
        resp.release_conn()
        results[i] = [f"{e['type']}:{e['object']['metadata']['name']}" for e in events]

    threads = [threading.Thread(target=watcher, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    eventually(lambda: sim.store.watcher_count >= baseline + 20)
    with sim.api_client() as api:
        for i in range(writes):
            core(api).create_namespaced_config_map(NS, configmap(f"cm-{i}"))
    for t in threads:
        t.join(timeout=15)
    for c in clients:
        c.close()
    expected = [f"ADDED:cm-{i}" for i in range(writes)]
    assert results == {i: expected for i in range(20)}


# ----------------------------------------------------------------------------- concurrency


def test_concurrent_read_modify_write_loses_no_update(sim: Simulator) -> None:
    threads, increments = 8, 25
    with sim.api_client() as api:
        core(api).create_namespaced_config_map(NS, configmap("counter", n="0"))
    conflicts = []

    def worker() -> None:
        with sim.api_client() as api:
            v1 = core(api)
            done = 0
            while done < increments:
                cm = v1.read_namespaced_config_map("counter", NS)
                cm.data["n"] = str(int(cm.data["n"]) + 1)
                try:
                    v1.replace_namespaced_config_map("counter", NS, cm)
                except ApiException as exc:
                    if exc.status != 409:
                        raise
                    conflicts.append(1)
                    continue
                done += 1

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    with sim.api_client() as api:
        final = core(api).read_namespaced_config_map("counter", NS)
    assert final.data["n"] == str(threads * increments)


# ----------------------------------------------------------------------------- finalizers


def test_finalizer_holds_deletion_until_removed(api: client.ApiClient) -> None:
    v1 = core(api)
    body = configmap("held")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    v1.create_namespaced_config_map(NS, body)
    v1.delete_namespaced_config_map("held", NS)
    marked = v1.read_namespaced_config_map("held", NS)
    assert marked.metadata.deletion_timestamp is not None
    assert marked.metadata.finalizers == ["example.com/hold"]
    status, _ = failure(
        v1.patch_namespaced_config_map,
        "held",
        NS,
        {"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}},
        _content_type="application/merge-patch+json",
    )
    assert status == 422
    v1.patch_namespaced_config_map(
        "held", NS, {"metadata": {"finalizers": None}}, _content_type="application/merge-patch+json"
    )
    status, _ = failure(v1.read_namespaced_config_map, "held", NS)
    assert status == 404


# ----------------------------------------------------------------------------- CRDs


def test_crd_is_served_at_once_namespaced_and_cluster_scoped(api: client.ApiClient) -> None:
    create_crd(api, widget_crd())
    create_crd(api, widget_crd("gizmos", "Gizmo", scope="Cluster"))
    resources = {r.name: r for r in custom(api).get_api_resources(GROUP, "v1").resources}
    assert resources["widgets"].namespaced is True
    assert resources["gizmos"].namespaced is False
    made = custom(api).create_namespaced_custom_object(GROUP, "v1", NS, "widgets", widget("w"))
    assert made["spec"] == {"size": 1, "color": "blue"}  # defaulted from the schema
    assert made["metadata"]["generation"] == 1
    gizmo = dict(widget("g"), kind="Gizmo")
    made = custom(api).create_cluster_custom_object(GROUP, "v1", "gizmos", gizmo)
    assert "namespace" not in made["metadata"]
    listed = custom(api).list_cluster_custom_object(GROUP, "v1", "gizmos")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["g"]


def test_dynamic_client_finds_a_new_crd(api: client.ApiClient) -> None:
    dyn = dynamic_client(api)
    dyn.resources.get(api_version="v1", kind="ConfigMap")  # discovery is cached from here on
    create_crd(api, widget_crd())
    widgets = dyn.resources.get(api_version=f"{GROUP}/v1", kind="Widget")
    widgets.create(body=widget("w", 2), namespace=NS)
    assert widgets.get(name="w", namespace=NS).spec.size == 2


def test_dynamic_client_watches_custom_resources(api: client.ApiClient) -> None:
    create_crd(api, widget_crd())
    widgets = dynamic_client(api).resources.get(api_version=f"{GROUP}/v1", kind="Widget")
    start = widgets.get(namespace=NS).metadata.resourceVersion
    widgets.create(body=widget("w", 2), namespace=NS)
    widgets.patch(
        name="w",
        namespace=NS,
        body={"spec": {"size": 3}},
        content_type="application/merge-patch+json",
    )
    seen = []
    for event in widgets.watch(namespace=NS, resource_version=start, timeout=5):
        seen.append((event["type"], event["object"].spec.size))
        if len(seen) == 2:
            break
    assert seen == [("ADDED", 2), ("MODIFIED", 3)]


def test_custom_resource_is_validated_against_the_schema(api: client.ApiClient) -> None:
    create_crd(api, widget_crd())
    status, body = failure(
        custom(api).create_namespaced_custom_object, GROUP, "v1", NS, "widgets", widget("w", 0)
    )
    assert status == 422
    assert body["reason"] == "Invalid"
    assert "spec.size" in body["message"]
    assert "greater than or equal to 1" in body["message"]
    assert body["details"]["causes"][0]["field"] == "spec.size"
    wrong_type = widget("w")
    wrong_type["spec"]["size"] = "big"
    status, body = failure(
        custom(api).create_namespaced_custom_object, GROUP, "v1", NS, "widgets", wrong_type
    )
    assert status == 422
    assert "spec.size" in body["message"]


def test_unknown_fields_of_a_custom_resource_are_pruned(api: client.ApiClient) -> None:
    create_crd(api, widget_crd())
    body = widget("w", 2, flavour="lemon")
    body["extra"] = {"x": 1}
    made = custom(api).create_namespaced_custom_object(GROUP, "v1", NS, "widgets", body)
    assert made["spec"] == {"size": 2, "color": "blue"}
    assert "extra" not in made
    status, body = failure(
        custom(api).create_namespaced_custom_object,
        GROUP,
        "v1",
        NS,
        "widgets",
        widget("w2", 2, flavour="lemon"),
        field_validation="Strict",
    )
    assert status == 400
    assert 'unknown field "spec.flavour"' in body["message"]


def test_custom_resource_status_and_scale_subresources(api: client.ApiClient) -> None:
    subresources = {
        "status": {},
        "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"},
    }
    create_crd(api, widget_crd(subresources=subresources))
    co = custom(api)
    body = widget("w", 1, replicas=2)
    body["status"] = {"phase": "Ignored"}
    made = co.create_namespaced_custom_object(GROUP, "v1", NS, "widgets", body)
    assert "status" not in made
    status = co.patch_namespaced_custom_object_status(
        GROUP, "v1", NS, "widgets", "w", {"status": {"phase": "Ready"}, "spec": {"size": 9}}
    )
    assert status["status"] == {"phase": "Ready"}
    assert status["spec"]["size"] == 1
    assert status["metadata"]["generation"] == 1
    ignored = co.patch_namespaced_custom_object(
        GROUP, "v1", NS, "widgets", "w", {"status": {"phase": "Nope"}}
    )
    assert ignored["status"] == {"phase": "Ready"}
    scale = co.get_namespaced_custom_object_scale(GROUP, "v1", NS, "widgets", "w")
    assert scale["spec"]["replicas"] == 2
    co.patch_namespaced_custom_object_scale(
        GROUP, "v1", NS, "widgets", "w", {"spec": {"replicas": 6}}
    )
    after = co.get_namespaced_custom_object(GROUP, "v1", NS, "widgets", "w")
    assert after["spec"]["replicas"] == 6
    assert after["metadata"]["generation"] == 2


def test_custom_resource_without_status_subresource_stores_status(api: client.ApiClient) -> None:
    create_crd(api, widget_crd())
    body = widget("w")
    body["status"] = {"phase": "Kept"}
    made = custom(api).create_namespaced_custom_object(GROUP, "v1", NS, "widgets", body)
    assert made["status"] == {"phase": "Kept"}
    status, _ = failure(
        custom(api).get_namespaced_custom_object_status, GROUP, "v1", NS, "widgets", "w"
    )
    assert status == 404


def test_deleting_a_crd_removes_its_objects_and_stops_serving(api: client.ApiClient) -> None:
    create_crd(api, widget_crd())
    co = custom(api)
    co.create_namespaced_custom_object(GROUP, "v1", NS, "widgets", widget("a"))
    co.create_namespaced_custom_object(GROUP, "v1", NS, "widgets", widget("b"))
    client.ApiextensionsV1Api(api).delete_custom_resource_definition(f"widgets.{GROUP}")
    status, _ = failure(co.list_namespaced_custom_object, GROUP, "v1", NS, "widgets")
    assert status == 404
    status, _ = failure(custom(api).get_api_resources, GROUP, "v1")
    assert status == 404
    create_crd(api, widget_crd())
    assert co.list_namespaced_custom_object(GROUP, "v1", NS, "widgets")["items"] == []


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


# ----------------------------------------------------------------------------- namespaces


def test_namespace_deletion_waits_for_contents_and_refuses_new_ones(api: client.ApiClient) -> None:
    v1 = core(api)
    v1.create_namespace({"metadata": {"name": "team"}})
    held = configmap("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    v1.create_namespaced_config_map("team", held)
    v1.create_namespaced_config_map("team", configmap("plain"))
    v1.delete_namespace("team")
    eventually(lambda: v1.read_namespace("team").status.phase == "Terminating")
    status, body = failure(v1.create_namespaced_config_map, "team", configmap("late"))
    assert (status, body["reason"]) == (403, "Forbidden")
    assert "being terminated" in body["message"]
    eventually(
        lambda: [c.metadata.name for c in v1.list_namespaced_config_map("team").items] == ["held"]
    )
    assert v1.read_namespace("team").metadata.deletion_timestamp is not None
    v1.patch_namespaced_config_map(
        "held",
        "team",
        {"metadata": {"finalizers": None}},
        _content_type="application/merge-patch+json",
    )

    def namespace_gone() -> bool:
        try:
            v1.read_namespace("team")
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    eventually(namespace_gone)


def test_a_watch_ends_when_its_client_hangs_up(quiet: Simulator) -> None:
    sim = quiet
    baseline = sim.store.watcher_count
    host, port = sim.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(
            b"GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: sim\r\n\r\n"
        )
        assert conn.recv(100).startswith(b"HTTP/1.1 200")
        assert sim.store.watcher_count == baseline + 1
    eventually(lambda: sim.store.watcher_count == baseline, timeout=5)
