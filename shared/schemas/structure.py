"""Reading a CRD's structural schema: which schema applies where, and the paths of fields.

The ``openAPIV3Schema`` of a CRD version, and the parts of a schema node that defaulting,
pruning and validation all walk (``properties``, ``additionalProperties``, ``items``,
``x-kubernetes-preserve-unknown-fields``, ``x-kubernetes-embedded-resource``), read leniently.
Changes no object and judges nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]
"""A node of an OpenAPI v3 structural schema."""


def schema_for_version(crd: Mapping[str, Any], version: str) -> Schema | None:
    """The ``openAPIV3Schema`` of one version of an ``apiextensions.k8s.io/v1`` CRD, or None."""
    for entry in crd.get("spec", {}).get("versions") or ():
        if entry.get("name") == version:
            schema = (entry.get("schema") or {}).get("openAPIV3Schema")
            return schema if isinstance(schema, Mapping) else None
    return None


def properties_of(schema: Schema) -> Mapping[str, Schema]:
    """``properties`` (empty when there are none)."""
    props = schema.get("properties")
    return props if isinstance(props, Mapping) else {}


def additional_of(schema: Schema) -> Schema | bool | None:
    """``additionalProperties`` as a schema, True (anything goes) or None (not allowed)."""
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        return extra
    if extra is True:
        return True
    return None


def items_of(schema: Schema) -> Schema | None:
    """The schema of a list's items, if given."""
    items = schema.get("items")
    return items if isinstance(items, Mapping) else None


def preserves_unknown(schema: Schema) -> bool:
    """Whether unknown fields below this node are kept."""
    return schema.get("x-kubernetes-preserve-unknown-fields") is True


def is_embedded(schema: Schema) -> bool:
    """Whether this node is a whole embedded Kubernetes object."""
    return schema.get("x-kubernetes-embedded-resource") is True


def child_path(path: str, key: str) -> str:
    """The dotted path of field ``key`` below ``path``."""
    return f"{path}.{key}" if path else key


def index_path(path: str, i: int) -> str:
    """The path of item ``i`` of the list at ``path``."""
    return f"{path}[{i}]"
