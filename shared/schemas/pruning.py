"""Pruning a custom object: removing, in place, the fields its structural schema does not declare.

The paths of removed fields feed strict field validation (``unknown field "spec.foo"``).
``apiVersion``, ``kind`` and ``metadata`` survive at the root and in embedded resources. Never
validates a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.schemas.structure import (
    Schema,
    additional_of,
    child_path,
    index_path,
    is_embedded,
    items_of,
    preserves_unknown,
    properties_of,
)

_ROOT_META_FIELDS = ("apiVersion", "kind", "metadata")


def prune(obj: dict[str, Any], schema: Schema) -> list[str]:
    """Remove, in place, the fields the schema does not declare; return their dotted paths.

    Honours ``x-kubernetes-preserve-unknown-fields`` (unknown fields stay, declared ones are
    still pruned inside), ``additionalProperties`` (a schema, or ``true`` for anything),
    ``x-kubernetes-embedded-resource`` (``apiVersion``, ``kind`` and ``metadata`` stay) and
    never touches ``apiVersion``, ``kind`` or ``metadata`` at the root. Scalars, including
    ``x-kubernetes-int-or-string`` values, are never pruned.
    """
    pruned: list[str] = []
    _prune(obj, schema, "", pruned, root=True)
    return pruned


def _prune(
    value: Any, schema: Schema | None, path: str, pruned: list[str], *, root: bool = False
) -> None:
    if schema is not None and preserves_unknown(schema):
        _prune_declared_only(value, schema, path, pruned, root=root)
        return
    if isinstance(value, dict):
        props = properties_of(schema) if schema is not None else {}
        extra = additional_of(schema) if schema is not None else None
        embedded = schema is not None and is_embedded(schema)
        for key, item in list(value.items()):
            if root and key in _ROOT_META_FIELDS:
                continue
            if embedded and _is_kept_meta_field(key, item):
                continue
            if key in props:
                _prune(item, props[key], child_path(path, key), pruned)
            elif extra is True:
                continue
            elif isinstance(extra, Mapping):
                _prune(item, extra, child_path(path, key), pruned)
            else:
                del value[key]
                pruned.append(child_path(path, key))
    elif isinstance(value, list):
        items = items_of(schema) if schema is not None else None
        for i, item in enumerate(value):
            _prune(item, items, index_path(path, i), pruned)


def _prune_declared_only(
    value: Any, schema: Schema, path: str, pruned: list[str], *, root: bool
) -> None:
    """Below ``x-kubernetes-preserve-unknown-fields``: keep unknown fields, prune inside known."""
    if isinstance(value, dict):
        props = properties_of(schema)
        extra = additional_of(schema)
        keeps_meta = root or is_embedded(schema)
        for key, item in value.items():
            if keeps_meta and key in _ROOT_META_FIELDS:
                continue
            if key in props:
                _prune(item, props[key], child_path(path, key), pruned)
            elif isinstance(extra, Mapping):
                _prune(item, extra, child_path(path, key), pruned)
    elif isinstance(value, list):
        items = items_of(schema)
        if items is None:
            return
        for i, item in enumerate(value):
            _prune_declared_only(item, items, index_path(path, i), pruned, root=False)


def _is_kept_meta_field(key: str, value: Any) -> bool:
    if key in ("apiVersion", "kind"):
        return isinstance(value, str)
    if key == "metadata":
        return isinstance(value, dict)
    return False
