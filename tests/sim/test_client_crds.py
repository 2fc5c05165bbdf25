"""CustomResourceDefinitions through the official and the dynamic client.

Covered: a CRD served at once (namespaced and cluster-scoped), found and watched by the dynamic
client; schema validation and pruning of unknown fields; a write that only leaves out defaulted
fields changes nothing; status and scale subresources, status
stored as-is without a status subresource; deleting a CRD removes its objects and stops
serving it.
"""

from __future__ import annotations

from kubernetes import client

from tests.sim.client_calls import (
    GROUP,
    NS,
    create_crd,
    custom,
    dynamic_client,
    failure,
    widget,
    widget_crd,
)

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


def test_a_write_that_only_leaves_out_defaults_changes_nothing(api: client.ApiClient) -> None:
    """The API server defaults the written object before it compares: leaving out a field the
    schema defaults (``color: blue``) is no change, so neither the generation nor the
    resourceVersion moves (and no watch event follows)."""
    create_crd(api, widget_crd())
    made = custom(api).create_namespaced_custom_object(GROUP, "v1", NS, "widgets", widget("w"))
    body = {"spec": {"size": 1, "color": None}}  # color removed: the default comes back
    again = custom(api).patch_namespaced_custom_object(GROUP, "v1", NS, "widgets", "w", body)
    assert again["spec"] == {"size": 1, "color": "blue"}
    assert again["metadata"]["generation"] == made["metadata"]["generation"] == 1
    assert again["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]


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
