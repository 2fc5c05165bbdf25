"""Patch application in the simulator (``local.sim.patching``).

Covers: JSON merge patch (null deletion, nesting, arrays replaced, inputs untouched); JSON patch
(add/remove/replace/move/copy, test failures and missing paths with readable messages, malformed
operation lists); strategic merge patch on built-in kinds (containers/env/ports merged by key,
``$patch: delete|replace``, ``$setElementOrder``, ``$retainKeys``, finalizers as a set and
``$deleteFromPrimitiveList``, Service ports, conditions, ownerReferences, replaced lists, pod
templates nested in CronJobs, a patch exactly as ``kubectl apply`` sends it, no directive left in
the result, malformed patches) and its refusal for custom resources.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from local.sim import patching

# --- helpers -----------------------------------------------------------------------------------


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "finalizers": ["a.example.com/x", "b.example.com/y"],
            "ownerReferences": [{"uid": "u1", "kind": "Rollout", "name": "r"}],
        },
        "spec": {
            "replicas": 3,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx:1.25",
                            "args": ["--a", "--b"],
                            "env": [
                                {"name": "A", "value": "1"},
                                {"name": "B", "value": "2"},
                            ],
                            "ports": [{"containerPort": 80, "name": "http"}],
                        },
                        {"name": "sidecar", "image": "envoy:1"},
                    ],
                    "tolerations": [{"key": "k1", "operator": "Exists"}],
                },
            },
        },
        "status": {
            "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "True"},
            ]
        },
    }


API_VERSIONS = {"Deployment": "apps/v1", "CronJob": "batch/v1", "Ingress": "networking.k8s.io/v1"}


def smp(target: dict[str, Any], patch: dict[str, Any], kind: str = "Deployment") -> Any:
    api_version = API_VERSIONS.get(kind, "v1")
    return patching.strategic_merge_patch(target, patch, api_version, kind)


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]  # type: ignore[no-any-return]


def directive_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [k for k in value if k.startswith(("$patch", "$retainKeys", "$setElementOrder"))]
        own += [k for k in value if k.startswith("$deleteFromPrimitiveList")]
        return own + [k for v in value.values() for k in directive_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in directive_keys(v)]
    return []


# --- JSON merge patch --------------------------------------------------------------------------


def test_merge_patch_null_deletes_and_nested_objects_merge() -> None:
    target = {"metadata": {"labels": {"a": "1", "b": "2"}, "name": "x"}, "spec": {"n": 1}}
    patch = {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": None}
    assert patching.merge_patch(target, patch) == {
        "metadata": {"labels": {"b": "2", "c": "3"}, "name": "x"}
    }


def test_merge_patch_replaces_arrays_and_scalars_and_creates_missing_objects() -> None:
    target = {"list": [1, 2, 3], "n": 1, "s": "x"}
    patch = {"list": [4], "n": {"deep": {"x": 1, "gone": None}}, "s": 2}
    assert patching.merge_patch(target, patch) == {"list": [4], "n": {"deep": {"x": 1}}, "s": 2}


def test_merge_patch_non_object_patch_replaces_target() -> None:
    assert patching.merge_patch({"a": 1}, [1, 2]) == [1, 2]
    assert patching.merge_patch([1], {"a": 1}) == {"a": 1}


def test_merge_patch_does_not_mutate_inputs() -> None:
    target, patch = {"a": {"b": [1]}}, {"a": {"c": {"d": 1}}}
    saved = copy.deepcopy((target, patch))
    result = patching.merge_patch(target, patch)
    result["a"]["b"].append(2)
    result["a"]["c"]["d"] = 9
    assert (target, patch) == saved


# --- JSON patch --------------------------------------------------------------------------------


def test_json_patch_add_remove_replace_move_copy() -> None:
    target = {"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1, "list": [1, 2]}}
    ops = [
        {"op": "add", "path": "/metadata/labels/b", "value": "2"},
        {"op": "remove", "path": "/metadata/labels/a"},
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "add", "path": "/spec/list/-", "value": 3},
        {"op": "copy", "from": "/spec/replicas", "path": "/spec/copied"},
        {"op": "move", "from": "/spec/list", "path": "/spec/moved"},
        {"op": "test", "path": "/spec/moved/2", "value": 3},
    ]
    assert patching.json_patch(target, ops) == {
        "metadata": {"labels": {"b": "2"}},
        "spec": {"replicas": 5, "copied": 5, "moved": [1, 2, 3]},
    }
    assert target["spec"] == {"replicas": 1, "list": [1, 2]}


def test_json_patch_test_failure_names_path_and_values() -> None:
    ops = [{"op": "test", "path": "/spec/replicas", "value": 3}]
    with pytest.raises(patching.PatchError) as caught:
        patching.json_patch({"spec": {"replicas": 2}}, ops)
    assert str(caught.value) == (
        "json patch: test operation failed: value at /spec/replicas is 2, expected 3"
    )


def test_json_patch_missing_path_is_reported() -> None:
    with pytest.raises(patching.PatchError, match=r"^json patch: remove .*/spec/foo does not"):
        patching.json_patch({"spec": {}}, [{"op": "remove", "path": "/spec/foo"}])
    with pytest.raises(patching.PatchError, match=r"path /spec/x does not exist"):
        patching.json_patch({"spec": {}}, [{"op": "add", "path": "/spec/x/y", "value": 1}])
    with pytest.raises(patching.PatchError, match=r"path /nope does not exist"):
        patching.json_patch({}, [{"op": "replace", "path": "/nope", "value": 1}])


def test_json_patch_failed_patch_leaves_target_alone() -> None:
    target = {"a": 1}
    ops = [{"op": "replace", "path": "/a", "value": 2}, {"op": "remove", "path": "/b"}]
    with pytest.raises(patching.PatchError):
        patching.json_patch(target, ops)
    assert target == {"a": 1}


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ({"op": "add"}, "must be a JSON array of operations, not an object"),
        (["add"], r"operations\[0\] must be an object, not a string"),
        ([{"op": "frobnicate", "path": "/a"}], "unknown op"),
        ([{"path": "/a"}], "unknown op"),
        ([{"op": "remove"}], 'missing "path"'),
        ([{"op": "add", "path": "/a"}], 'missing "value"'),
        ([{"op": "move", "path": "/a"}], 'missing "from"'),
        ([{"op": "remove", "path": "a"}], "not a JSON pointer"),
    ],
)
def test_json_patch_rejects_malformed_operations(ops: Any, message: str) -> None:
    with pytest.raises(patching.PatchError, match=message):
        patching.json_patch({"a": 1}, ops)


def test_patch_error_is_a_value_error() -> None:
    assert issubclass(patching.PatchError, ValueError)
    assert issubclass(patching.StrategicMergeUnsupported, patching.PatchError)


# --- strategic merge patch: lists merged by key ------------------------------------------------


def test_smp_image_change_of_one_container_keeps_the_others() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "n:2"}]}}}}
    result = smp(deployment(), patch)
    expected = deployment()
    containers(expected)[0]["image"] = "n:2"
    assert result == expected


def test_smp_env_merged_by_name() -> None:
    env = [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": env}]}}}}
    result = smp(deployment(), patch)
    # B updated in place, C added: new items come before server-only ones, as on the server
    assert containers(result)[0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "20"},
        {"name": "C", "value": "3"},
    ]
    assert containers(result)[1] == {"name": "sidecar", "image": "envoy:1"}


def test_smp_new_list_item_lands_first_without_element_order() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "new", "image": "x"}]}}}}
    names = [c["name"] for c in containers(smp(deployment(), patch))]
    assert names == ["new", "app", "sidecar"]


def test_smp_set_element_order_places_items() -> None:
    order = [{"name": "app"}, {"name": "new"}, {"name": "sidecar"}]
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": order,
                    "containers": [{"name": "new", "image": "x"}],
                }
            }
        }
    }
    result = smp(deployment(), patch)
    assert [c["name"] for c in containers(result)] == ["app", "new", "sidecar"]
    assert "$setElementOrder/containers" not in result["spec"]["template"]["spec"]


def test_smp_set_element_order_alone_reorders() -> None:
    order = [{"name": "sidecar"}, {"name": "app"}]
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": order}}}}
    assert [c["name"] for c in containers(smp(deployment(), patch))] == ["sidecar", "app"]


def test_smp_set_element_order_must_agree_with_patch_list() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [{"name": "other", "image": "x"}],
                }
            }
        }
    }
    with pytest.raises(patching.PatchError, match=r"\$setElementOrder/containers"):
        smp(deployment(), patch)


def test_smp_patch_delete_removes_a_container() -> None:
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}
    }
    result = smp(deployment(), patch)
    assert [c["name"] for c in containers(result)] == ["app"]
    assert directive_keys(result) == []


def test_smp_patch_delete_in_list_needs_the_merge_key() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"$patch": "delete", "image": "x"}]}}}}
    with pytest.raises(patching.PatchError, match="does not contain its merge key 'name'"):
        smp(deployment(), patch)


def test_smp_patch_replace_in_a_list_replaces_the_list() -> None:
    new = [{"$patch": "replace"}, {"name": "only", "image": "x"}]
    patch = {"spec": {"template": {"spec": {"containers": new}}}}
    assert containers(smp(deployment(), patch)) == [{"name": "only", "image": "x"}]


def test_smp_patch_replace_on_a_map_replaces_it() -> None:
    patch = {"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}}
    assert smp(deployment(), patch)["spec"]["strategy"] == {"type": "Recreate"}


def test_smp_patch_delete_on_a_map_empties_it() -> None:
    patch = {"spec": {"strategy": {"$patch": "delete"}}}
    assert smp(deployment(), patch)["spec"]["strategy"] == {}


def test_smp_patch_merge_is_the_default() -> None:
    patch = {"spec": {"strategy": {"$patch": "merge", "type": "Recreate"}}}
    strategy = smp(deployment(), patch)["spec"]["strategy"]
    assert strategy == {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}


def test_smp_retain_keys_drops_unlisted_fields() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert smp(deployment(), patch)["spec"]["strategy"] == {"type": "Recreate"}


def test_smp_retain_keys_must_list_every_patched_field() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 2}}}}
    with pytest.raises(patching.PatchError, match=r"'rollingUpdate' .* not in its \$retainKeys"):
        smp(deployment(), patch)


def test_smp_container_ports_merged_by_container_port() -> None:
    ports = [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 9090}]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "ports": ports}]}}}}
    assert containers(smp(deployment(), patch))[0]["ports"] == [
        {"containerPort": 80, "name": "http", "protocol": "TCP"},
        {"containerPort": 9090},
    ]


def test_smp_lists_without_merge_key_are_replaced() -> None:
    spec = {
        "tolerations": [{"key": "k2", "operator": "Exists"}],
        "containers": [{"name": "app", "args": ["--c"]}],
    }
    result = smp(deployment(), {"spec": {"template": {"spec": spec}}})
    assert result["spec"]["template"]["spec"]["tolerations"] == [
        {"key": "k2", "operator": "Exists"}
    ]
    assert containers(result)[0]["args"] == ["--c"]


def test_smp_null_deletes_a_map_key() -> None:
    patch = {"spec": {"strategy": {"rollingUpdate": None}}, "metadata": {"finalizers": None}}
    result = smp(deployment(), patch)
    assert result["spec"]["strategy"] == {"type": "RollingUpdate"}
    assert "finalizers" not in result["metadata"]


# --- strategic merge patch: metadata, status, other kinds --------------------------------------


def test_smp_finalizers_are_a_set() -> None:
    patch = {"metadata": {"finalizers": ["b.example.com/y", "c.example.com/z"]}}
    finalizers = smp(deployment(), patch)["metadata"]["finalizers"]
    assert sorted(finalizers) == ["a.example.com/x", "b.example.com/y", "c.example.com/z"]
    assert len(finalizers) == 3


def test_smp_delete_from_primitive_list_removes_finalizer() -> None:
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.example.com/x"]}}
    result = smp(deployment(), patch)
    assert result["metadata"]["finalizers"] == ["b.example.com/y"]
    assert directive_keys(result) == []


def test_smp_owner_references_merged_by_uid() -> None:
    refs = [{"uid": "u2", "kind": "ReplicaSet", "name": "rs"}, {"uid": "u1", "name": "r2"}]
    result = smp(deployment(), {"metadata": {"ownerReferences": refs}})
    assert sorted((r["uid"], r["name"]) for r in result["metadata"]["ownerReferences"]) == [
        ("u1", "r2"),
        ("u2", "rs"),
    ]


def test_smp_status_conditions_merged_by_type() -> None:
    patch = {"status": {"conditions": [{"type": "Progressing", "status": "False"}]}}
    assert smp(deployment(), patch)["status"]["conditions"] == [
        {"type": "Available", "status": "True"},
        {"type": "Progressing", "status": "False"},
    ]


def test_smp_service_ports_merged_by_port() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]},
    }
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    result = smp(service, patch, kind="Service")
    assert result["spec"]["ports"] == [
        {"port": 80, "targetPort": 9090},
        {"port": 443, "targetPort": 8443},
    ]


def test_smp_ingress_lists_are_replaced() -> None:
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web"},
        "spec": {"rules": [{"host": "a.example.com"}, {"host": "b.example.com"}]},
    }
    patch = {"spec": {"rules": [{"host": "c.example.com"}]}}
    assert smp(ingress, patch, kind="Ingress")["spec"]["rules"] == [{"host": "c.example.com"}]


def test_smp_pod_and_cron_job_pod_templates_use_the_pod_spec_keys() -> None:
    pod = {"kind": "Pod", "spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b"}]}}
    result = smp(pod, {"spec": {"containers": [{"name": "a", "image": "2"}]}}, kind="Pod")
    assert result["spec"]["containers"] == [{"name": "a", "image": "2"}, {"name": "b"}]

    template = {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b"}]}}
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": template}}}}
    patch = {
        "spec": {
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "b", "x": 1}]}}}}
        }
    }
    merged = smp(cron, patch, kind="CronJob")["spec"]["jobTemplate"]["spec"]["template"]
    assert merged["spec"]["containers"] == [{"name": "a", "image": "1"}, {"name": "b", "x": 1}]


def test_smp_merge_key_table_is_readable_data() -> None:
    keys = patching.merge_keys_for("Deployment")
    assert keys["spec.template.spec.containers"] == "name"
    assert keys["spec.template.spec.containers[].env"] == "name"
    assert keys["spec.template.spec.initContainers[].volumeMounts"] == "mountPath"
    assert keys["metadata.finalizers"] == patching.UNION
    assert "spec.template.spec.tolerations" not in keys
    assert patching.merge_keys_for("Ingress") == {
        "metadata.ownerReferences": "uid",
        "metadata.finalizers": patching.UNION,
    }


def test_smp_kubectl_apply_image_change() -> None:
    """The body ``kubectl apply`` sends after the image in the manifest changed."""
    live = deployment()
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}},
    }
    last_applied = json.dumps(manifest, separators=(",", ":")) + "\n"
    body = {
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied}
        },
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [{"image": "nginx:1.26", "name": "app"}],
                }
            }
        },
    }
    result = smp(live, body)
    assert result["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/last-applied-configuration": last_applied
    }
    assert [(c["name"], c["image"]) for c in containers(result)] == [
        ("app", "nginx:1.26"),
        ("sidecar", "envoy:1"),
    ]
    assert containers(result)[0]["env"] == containers(live)[0]["env"]
    assert result["spec"]["replicas"] == 3
    assert directive_keys(result) == []


def test_smp_kubectl_apply_removing_a_container_and_a_finalizer() -> None:
    """The body ``kubectl apply`` sends after a container and a finalizer left the manifest."""
    body = {
        "metadata": {
            "$setElementOrder/finalizers": ["b.example.com/y"],
            "$deleteFromPrimitiveList/finalizers": ["a.example.com/x"],
        },
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [{"$patch": "delete", "name": "sidecar"}],
                }
            }
        },
    }
    result = smp(deployment(), body)
    assert result["metadata"]["finalizers"] == ["b.example.com/y"]
    assert [c["name"] for c in containers(result)] == ["app"]
    assert directive_keys(result) == []


def test_smp_set_element_order_on_primitives() -> None:
    order = ["b.example.com/y", "c.example.com/z", "a.example.com/x"]
    patch = {"metadata": {"$setElementOrder/finalizers": order, "finalizers": ["c.example.com/z"]}}
    assert smp(deployment(), patch)["metadata"]["finalizers"] == order


def test_smp_new_fields_carry_no_directives() -> None:
    target = {"kind": "Deployment", "metadata": {"name": "web"}}
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                    "containers": [{"name": "b"}, {"name": "a", "env": [{"name": "X"}]}],
                }
            }
        }
    }
    result = smp(target, patch)
    assert [c["name"] for c in containers(result)] == ["b", "a"]
    assert directive_keys(result) == []


def test_smp_keeps_dollar_fields_that_are_data() -> None:
    target = {"kind": "CustomResourceDefinition", "spec": {"schema": {"$ref": "#/a"}}}
    patch = {"spec": {"schema": {"$schema": "draft-04"}}}
    result = patching.strategic_merge_patch(
        target, patch, "apiextensions.k8s.io/v1", "CustomResourceDefinition"
    )
    assert result["spec"]["schema"] == {"$ref": "#/a", "$schema": "draft-04"}


def test_smp_does_not_mutate_inputs() -> None:
    target = deployment()
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "Z"}]}]}}}
    }
    saved = copy.deepcopy((target, patch))
    result = smp(target, patch)
    containers(result)[0]["env"][0]["value"] = "changed"
    assert (target, patch) == saved


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ([1], "must be a JSON object"),
        ({"$patch": "delete"}, "cannot delete the whole object"),
        ({"spec": {"strategy": {"$patch": "explode"}}}, "unknown \\$patch directive"),
        ({"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}}, "must be a list"),
        ({"spec": {"$retainKeys": "replicas"}}, "must be a list of field names"),
        (
            {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
            "merge key 'name'",
        ),
    ],
)
def test_smp_rejects_malformed_patches(patch: Any, message: str) -> None:
    with pytest.raises(patching.PatchError, match=message):
        smp(deployment(), patch)


# --- strategic merge patch: custom resources ---------------------------------------------------


def test_smp_supported_only_for_built_in_groups() -> None:
    assert patching.supports_strategic_merge("v1", "Pod")
    assert patching.supports_strategic_merge("apps/v1", "Deployment")
    assert patching.supports_strategic_merge("networking.k8s.io/v1", "Ingress")
    assert patching.supports_strategic_merge("coordination.k8s.io/v1", "Lease")
    assert not patching.supports_strategic_merge("ferry.dev/v1alpha1", "Rollout")
    assert not patching.supports_strategic_merge("gateway.networking.k8s.io/v1", "HTTPRoute")


def test_smp_rejects_custom_resources_like_the_server() -> None:
    rollout = {"apiVersion": "ferry.dev/v1alpha1", "kind": "Rollout", "spec": {}}
    with pytest.raises(patching.StrategicMergeUnsupported, match="unknown format") as caught:
        patching.strategic_merge_patch(rollout, {"spec": {"x": 1}}, "ferry.dev/v1alpha1", "Rollout")
    assert "application/merge-patch+json" in str(caught.value)
