"""Reading Ferry's manifests and checking their fields, shared by the tests of this package.

The readers return fresh copies a test may change; the field checks need no server (the
official client's models for built-in kinds, the CRD schemas for custom ones); the cluster
helpers create objects in the simulator of ``conftest`` with ``fieldValidation=Strict``. Nothing
here asserts what the manifests should hold: the tests do.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import yaml
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError

from functions import DEAD_LETTER, SERVICE_PREFIX

Obj = dict[str, Any]

REPO = Path(__file__).resolve().parents[2]
KNATIVE = REPO / "knative"
UPSTREAM = REPO.parent / "shared" / "schemas" / "knative"
"""Upstream Knative CRDs, kept beside the checkout (see ``../shared/schemas/README.md``)."""

NAMESPACE = "ferry-system"
INSTALL_ORDER = (
    "namespace.yaml",
    "crds/rollouts.yaml",
    "crds/analysistemplates.yaml",
    "crds/clusteranalysistemplates.yaml",
    "crds/analysisruns.yaml",
    "crds/experiments.yaml",
    "crds/webhookpolicies.yaml",
    "rbac.yaml",
    "routers.yaml",
    "admission.yaml",
    "networkpolicy.yaml",
    "services.yaml",
    "broker.yaml",
    "triggers.yaml",
    "sources.yaml",
    "timer-worker.yaml",
    "dashboard.yaml",
    "webhooks.yaml",
)
"""The installation, in the order the README installs it (examples are not part of it)."""
KUSTOMIZATION = KNATIVE / "kustomization.yaml"
"""The same installation for ``kubectl apply -k knative/`` (a kustomization, not an object)."""

CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}
KSVC = "serving.knative.dev/v1"
BROKER_REF = {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "ferry"}
DEADLETTER = SERVICE_PREFIX + DEAD_LETTER
STRICT = [("fieldValidation", "Strict")]


# -- reading the manifests ----------------------------------------------------------------


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _parsed(path: Path) -> tuple[Obj, ...]:
    return tuple(doc for doc in yaml.load_all(path.read_text(), Loader=_LOADER) if doc)


def _docs(path: Path) -> list[Obj]:
    """The objects of a YAML file, as fresh copies a test may change."""
    return copy.deepcopy(list(_parsed(path)))


def _manifest(name: str) -> list[Obj]:
    return _docs(KNATIVE / name)


def _installed() -> list[Obj]:
    return [doc for name in INSTALL_ORDER for doc in _manifest(name)]


def _of_kind(docs: list[Obj], kind: str) -> list[Obj]:
    return [doc for doc in docs if doc["kind"] == kind]


def _by_name(docs: list[Obj]) -> dict[str, Obj]:
    return {doc["metadata"]["name"]: doc for doc in docs}


def _triggers() -> list[Obj]:
    return _of_kind(_manifest("triggers.yaml"), "Trigger")


def _services() -> dict[str, Obj]:
    return _by_name(_of_kind(_manifest("services.yaml"), "Service"))


def _rollout_crd() -> Obj:
    (crd,) = _manifest("crds/rollouts.yaml")
    return crd


def _rollout_schema() -> Obj:
    return _crd_schema(_rollout_crd())


ANALYSIS_CRDS = ("analysistemplates", "clusteranalysistemplates", "analysisruns")


def _analysis_crd(plural: str) -> Obj:
    (crd,) = _manifest(f"crds/{plural}.yaml")
    return crd


def _ferry_crds() -> list[Obj]:
    return [_rollout_crd(), *(_analysis_crd(p) for p in ANALYSIS_CRDS)]


def _crd_schema(crd: Obj) -> Obj:
    schema: Obj = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _upstream_crds() -> list[Obj]:
    if not UPSTREAM.is_dir():
        pytest.fail(f"the upstream Knative CRDs are missing: expected them in {UPSTREAM}")
    return [doc for path in sorted(UPSTREAM.glob("*.yaml")) for doc in _docs(path)]


def _schema_of(api_version: str, kind: str) -> Obj:
    group, _, version = api_version.rpartition("/")
    for crd in [*_upstream_crds(), *_ferry_crds()]:
        if crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind:
            for entry in crd["spec"]["versions"]:
                if entry["name"] == version:
                    schema: Obj = entry["schema"]["openAPIV3Schema"]
                    return schema
    raise AssertionError(f"no CRD schema for {api_version} {kind}")


def _short(event_type: str) -> str:
    """The Trigger name suffix of a type: its last two segments (``pause-expired``), ``_``
    as ``-`` (``repository-dispatch``: an RFC 1123 label)."""
    return "-".join(event_type.split(".")[-2:]).replace("_", "-")


# -- field checks that do not need a server -----------------------------------------------


def _model_errors(value: Any, type_name: str, path: str) -> list[str]:
    """Fields of ``value`` that the official client's model ``type_name`` does not have."""
    if value is None or type_name == "object":
        return []
    for prefix in ("List[", "list["):
        if type_name.startswith(prefix):
            if not isinstance(value, list):
                return [f"{path}: expected a list"]
            inner = type_name[len(prefix) : -1]
            return [e for i, v in enumerate(value) for e in _model_errors(v, inner, f"{path}[{i}]")]
    for prefix in ("Dict[", "dict("):
        if type_name.startswith(prefix):
            if not isinstance(value, dict):
                return [f"{path}: expected a map"]
            inner = type_name[len(prefix) : -1].split(",", 1)[1].strip()
            return [e for k, v in value.items() for e in _model_errors(v, inner, f"{path}.{k}")]
    scalars: dict[str, tuple[type, ...]] = {
        "str": (str,),
        "int": (int,),
        "float": (int, float),
        "bool": (bool,),
        "datetime": (str,),
    }
    if type_name in scalars:
        wanted = scalars[type_name]
        ok = isinstance(value, wanted) and not (isinstance(value, bool) and bool not in wanted)
        return [] if ok else [f"{path}: {value!r} is not a {type_name}"]
    model = getattr(kubernetes.client, type_name)
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({type_name})"]
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    errors = []
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        if key not in by_json:
            errors.append(f"{child}: unknown field of {type_name}")
            continue
        inner = model.openapi_types[by_json[key]]
        if type_name == "V1JSONSchemaProps" and key in ("items", "additionalProperties"):
            inner = "V1JSONSchemaProps" if isinstance(item, dict) else "bool"
        errors.extend(_model_errors(item, inner, child))
    return errors


def _builtin_errors(obj: Obj) -> list[str]:
    version = obj["apiVersion"].rpartition("/")[2]
    return _model_errors(obj, version.capitalize() + obj["kind"], "")


def _undeclared(value: Any, schema: Obj, path: str = "") -> list[str]:
    """Fields a structural schema does not declare, also where it preserves unknown fields.

    Below ``x-kubernetes-preserve-unknown-fields`` a real server keeps any field, so a typo
    there is accepted silently. A node that declares ``properties`` is held to them anyway; a
    node without (a free-form map, like a Trigger's ``filter.attributes``) is not.
    """
    errors: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        free = schema.get("x-kubernetes-preserve-unknown-fields") is True and not props
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if not path and key in ("apiVersion", "kind"):
                continue
            if not path and key == "metadata":
                errors.extend(_model_errors(item, "V1ObjectMeta", child))
            elif key in props:
                errors.extend(_undeclared(item, props[key], child))
            elif isinstance(extra, dict):
                errors.extend(_undeclared(item, extra, child))
            elif not free and extra is not True:
                errors.append(child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors.extend(_undeclared(item, schema["items"], f"{path}[{i}]"))
    return errors


def _schema_nodes(schema: Obj, path: str = "") -> Iterator[tuple[str, Obj]]:
    yield path, schema
    for key, sub in (schema.get("properties") or {}).items():
        yield from _schema_nodes(sub, f"{path}.{key}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _schema_nodes(schema[key], f"{path}[{key}]")


# -- objects in the simulator -------------------------------------------------------------


def _dynamic(api: kubernetes.client.ApiClient, cache: Path) -> DynamicClient:
    """A dynamic client whose discovery cache is private to one simulator."""
    return DynamicClient(api, cache_file=str(cache))  # type: ignore[no-untyped-call]


def _create(
    cluster: DynamicClient, obj: Obj, namespace: str | None = None, *, strict: bool = True
) -> Obj:
    resource = cluster.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    ns = obj["metadata"].get("namespace", namespace) if resource.namespaced else None
    params = STRICT if strict else []
    created: Obj = resource.create(body=obj, namespace=ns, query_params=params).to_dict()
    return created


def _rejection(cluster: DynamicClient, obj: Obj, namespace: str) -> tuple[int, str]:
    """The HTTP status and the Status message of a create that must fail."""
    try:
        _create(cluster, obj, namespace)
    except DynamicApiError as exc:
        return int(exc.status), _message(exc)
    raise AssertionError(f"{obj['kind']} {obj['metadata']['name']} was accepted")


def _patch_status(cluster: DynamicClient, kind: str, name: str, namespace: str, status: Obj) -> Obj:
    """Merge-patch the status of the ``ferry.dev/v1alpha1`` ``kind`` ``name`` as Ferry does
    (impersonating one of its ServiceAccounts: people may only append commands, by the
    admission policy of admission.yaml); the object stored."""
    resource = cluster.resources.get(api_version="ferry.dev/v1alpha1", kind=kind)
    stored: Obj = resource.status.patch(
        body={"status": status},
        name=name,
        namespace=namespace,
        content_type="application/merge-patch+json",
        header_params={
            "Impersonate-User": f"system:serviceaccount:{NAMESPACE}:ferry-rollout",
            "Impersonate-Group": "system:masters",  # whatever RBAC this cluster has so far
        },
    ).to_dict()
    return stored


def _message(exc: DynamicApiError) -> str:
    body = exc.body.decode() if isinstance(exc.body, bytes) else str(exc.body)
    message: str = json.loads(body)["message"]
    return message


def _contains(stored: Any, sent: Any) -> bool:
    """``stored`` has everything ``sent`` has (defaults may add more)."""
    if isinstance(sent, dict):
        return isinstance(stored, dict) and all(
            k in stored and _contains(stored[k], v) for k, v in sent.items()
        )
    if isinstance(sent, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(sent)
            and all(_contains(a, b) for a, b in zip(stored, sent, strict=True))
        )
    return bool(stored == sent)
