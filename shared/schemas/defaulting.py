"""Defaulting a custom object against its schema, as the API server does on every write.

``default`` values for absent fields (deep-copied, then defaulted inside), and ``null`` dropped
where the schema neither allows it nor defaults it. Never removes a declared field or reports an
error.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from shared.schemas.structure import (
    Schema,
    additional_of,
    items_of,
    properties_of,
)


def apply_defaults(obj: dict[str, Any], schema: Schema) -> None:
    """Default absent fields in place, as the API server does on every write and read.

    A property with a ``default`` gets a deep copy of it when it is absent, or ``null`` while
    the property is not ``nullable``; defaulting then continues inside the value, so a parent's
    default is itself defaulted. A field whose parent object is absent is left absent. Before
    that, ``null`` values of non-nullable fields without a default are dropped, as the API
    server does when it decodes a custom object.
    """
    _drop_disallowed_nulls(obj, schema)
    _default(obj, schema)


def _drop_disallowed_nulls(value: Any, schema: Schema | None) -> None:
    if schema is None:
        return
    if isinstance(value, dict):
        props = properties_of(schema)
        extra = additional_of(schema)
        for key, item in list(value.items()):
            sub = props.get(key)
            if sub is None and isinstance(extra, Mapping):
                sub = extra
            if sub is None:
                continue
            if item is None and "default" not in sub and not sub.get("nullable"):
                del value[key]
            else:
                _drop_disallowed_nulls(item, sub)
    elif isinstance(value, list):
        for item in value:
            _drop_disallowed_nulls(item, items_of(schema))


def _default(value: Any, schema: Schema | None) -> None:
    if schema is None:
        return
    if isinstance(value, dict):
        props = properties_of(schema)
        for key, sub in props.items():
            if "default" not in sub:
                continue
            if key not in value or (value[key] is None and not sub.get("nullable")):
                value[key] = copy.deepcopy(sub["default"])
        extra = additional_of(schema)
        for key, item in value.items():
            if key in props:
                _default(item, props[key])
            elif isinstance(extra, Mapping):
                if item is None and "default" in extra and not extra.get("nullable"):
                    value[key] = item = copy.deepcopy(extra["default"])
                _default(item, extra)
    elif isinstance(value, list):
        items = items_of(schema)
        if items is None:
            return
        for i, item in enumerate(value):
            if item is None and "default" in items and not items.get("nullable"):
                value[i] = item = copy.deepcopy(items["default"])
            _default(item, items)
