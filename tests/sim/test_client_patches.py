"""Patches and subresources through the official client.

Covered: merge, JSON and strategic merge patches (and the 415 for a strategic merge patch of a
custom resource); the status subresource writing only status, status ignored in a create body;
the scale subresource of a Deployment.
"""

from __future__ import annotations

from kubernetes import client

from tests.sim.client_calls import (
    GROUP,
    NS,
    apps,
    configmap,
    core,
    create_crd,
    custom,
    deployment,
    failure,
    widget,
    widget_crd,
)

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
