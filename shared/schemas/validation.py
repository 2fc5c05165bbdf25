"""Validating a custom object against its structural schema (OpenAPI v3 value validation).

Types, ``required``, ``enum``, numeric and string bounds, ``pattern``, ``format: date-time``,
item and property counts, ``uniqueItems``, list types and the ``allOf``/``anyOf``/``oneOf``/``not``
composition, each failure a :class:`~shared.schemas.field_errors.FieldError` worded like the
API server's. Changes nothing: unknown fields are pruning's, absent ones defaulting's.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from shared.schemas.field_errors import (
    FieldError,
    duplicate,
    go_number,
    invalid,
    named,
    not_supported,
    required,
    too_long,
    too_many,
)
from shared.schemas.structure import (
    Schema,
    additional_of,
    child_path,
    index_path,
    is_embedded,
    items_of,
    properties_of,
)

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
)


def validate(obj: Mapping[str, Any], schema: Schema) -> list[FieldError]:
    """Validate an object against a structural schema; return the field errors, in order.

    Covers ``type`` (with ``nullable``, integers accepted as numbers and integral numbers as
    integers), ``x-kubernetes-int-or-string``, ``required``, ``enum``, numeric bounds and
    ``multipleOf``, string length, ``pattern`` (``re.search``), ``format: date-time``, item and
    property counts, ``uniqueItems``, ``allOf``/``anyOf``/``oneOf``/``not``,
    ``x-kubernetes-list-type: set|map`` duplicates and the ``apiVersion``/``kind`` of embedded
    resources. The CEL rules (``x-kubernetes-validations``) are ``rules``'. Unknown fields are not
    errors here: ``prune`` reports them.
    """
    errors: list[FieldError] = []
    _validate(obj, schema, "", errors)
    return errors


def _validate(value: Any, schema: Schema, path: str, errors: list[FieldError]) -> None:
    if value is None and schema.get("nullable"):
        return
    if not _check_type(value, schema, path, errors):
        return
    _check_enum(value, schema, path, errors)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, schema, path, errors)
    elif isinstance(value, str):
        _check_string(value, schema, path, errors)
    elif isinstance(value, list):
        _check_array(value, schema, path, errors)
    elif isinstance(value, Mapping):
        _check_object(value, schema, path, errors)
    _check_composition(value, schema, path, errors)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _has_type(value: Any, wanted: str) -> bool:
    actual = _json_type(value)
    if wanted == actual:
        return True
    if wanted == "number":
        return actual == "integer"
    if wanted == "integer":
        return actual == "number" and math.isfinite(value) and float(value).is_integer()
    return False


def _check_type(value: Any, schema: Schema, path: str, errors: list[FieldError]) -> bool:
    if schema.get("x-kubernetes-int-or-string") is True:
        wanted = ["integer", "string"]
    elif isinstance(schema.get("type"), str) and schema["type"]:
        wanted = [schema["type"]]
    else:
        return True
    if any(_has_type(value, w) for w in wanted):
        return True
    actual = _json_type(value)
    detail = f"{named(path)} in body must be of type {','.join(wanted)}: {json.dumps(actual)}"
    errors.append(FieldError(path, f"Invalid value: {json.dumps(actual)}: {detail}"))
    return False


def _canonical(value: Any) -> str:
    """A JSON text equal for equal JSON values (so ``1`` and ``true`` stay apart)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _check_enum(value: Any, schema: Schema, path: str, errors: list[FieldError]) -> None:
    allowed = schema.get("enum")
    if not isinstance(allowed, list):
        return
    wanted = _canonical(value)
    if not any(_canonical(a) == wanted for a in allowed):
        errors.append(not_supported(path, value, allowed))


def _check_number(value: float, schema: Schema, path: str, errors: list[FieldError]) -> None:
    name = named(path)
    minimum = schema.get("minimum")
    if isinstance(minimum, (int, float)):
        if schema.get("exclusiveMinimum") is True and value <= minimum:
            detail = f"{name} in body should be greater than {go_number(minimum)}"
            errors.append(invalid(path, value, detail))
        elif value < minimum:
            detail = f"{name} in body should be greater than or equal to {go_number(minimum)}"
            errors.append(invalid(path, value, detail))
    maximum = schema.get("maximum")
    if isinstance(maximum, (int, float)):
        if schema.get("exclusiveMaximum") is True and value >= maximum:
            detail = f"{name} in body should be less than {go_number(maximum)}"
            errors.append(invalid(path, value, detail))
        elif value > maximum:
            detail = f"{name} in body should be less than or equal to {go_number(maximum)}"
            errors.append(invalid(path, value, detail))
    factor = schema.get("multipleOf")
    if isinstance(factor, (int, float)) and factor > 0:
        quotient = value / factor
        if not math.isclose(quotient, round(quotient), rel_tol=0, abs_tol=1e-9):
            detail = f"{name} in body should be a multiple of {go_number(factor)}"
            errors.append(invalid(path, value, detail))


def _check_string(value: str, schema: Schema, path: str, errors: list[FieldError]) -> None:
    name = named(path)
    max_length = schema.get("maxLength")
    if isinstance(max_length, int) and len(value) > max_length:
        errors.append(too_long(path, max_length))
    min_length = schema.get("minLength")
    if isinstance(min_length, int) and len(value) < min_length:
        detail = f"{name} in body should be at least {min_length} chars long"
        errors.append(invalid(path, value, detail))
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and re.search(pattern, value) is None:
        errors.append(invalid(path, value, f"{name} in body should match '{pattern}'"))
    fmt = schema.get("format")
    if fmt in ("date-time", "datetime") and not _RFC3339.match(value):
        detail = f"{name} in body must be of type {fmt}: {json.dumps(value)}"
        errors.append(invalid(path, value, detail))


def _check_array(value: list[Any], schema: Schema, path: str, errors: list[FieldError]) -> None:
    name = named(path)
    max_items = schema.get("maxItems")
    if isinstance(max_items, int) and len(value) > max_items:
        errors.append(too_many(path, len(value), max_items))
    min_items = schema.get("minItems")
    if isinstance(min_items, int) and len(value) < min_items:
        detail = f"{name} in body should have at least {min_items} items"
        errors.append(invalid(path, len(value), detail))
    if schema.get("uniqueItems") is True and len({_canonical(v) for v in value}) < len(value):
        errors.append(invalid(path, value, f"{name} in body shouldn't contain duplicates"))
    _check_list_type(value, schema, path, errors)
    items = items_of(schema)
    if items is not None:
        for i, item in enumerate(value):
            _validate(item, items, index_path(path, i), errors)


def _check_list_type(value: list[Any], schema: Schema, path: str, errors: list[FieldError]) -> None:
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        seen: set[str] = set()
        for i, item in enumerate(value):
            key = _canonical(item)
            if key in seen:
                errors.append(duplicate(index_path(path, i), item))
            seen.add(key)
    elif list_type == "map":
        keys = [k for k in schema.get("x-kubernetes-list-map-keys") or () if isinstance(k, str)]
        seen_keys: set[str] = set()
        for i, item in enumerate(value):
            if not isinstance(item, Mapping):
                continue  # the items' type check reports it
            identity = {k: item[k] for k in keys if k in item}
            key = _canonical([item.get(k) for k in keys])
            if key in seen_keys:
                errors.append(duplicate(index_path(path, i), identity))
            seen_keys.add(key)


def _check_object(
    value: Mapping[str, Any], schema: Schema, path: str, errors: list[FieldError]
) -> None:
    name = named(path)
    max_props = schema.get("maxProperties")
    if isinstance(max_props, int) and len(value) > max_props:
        errors.append(too_many(path, len(value), max_props))
    min_props = schema.get("minProperties")
    if isinstance(min_props, int) and len(value) < min_props:
        detail = f"{name} in body should have at least {min_props} properties"
        errors.append(invalid(path, len(value), detail))
    for key in schema.get("required") or ():
        if key not in value:
            errors.append(required(child_path(path, key)))
    if is_embedded(schema) and value:
        _check_embedded(value, path, errors)
    props = properties_of(schema)
    extra = additional_of(schema)
    for key, item in value.items():
        if key in props:
            _validate(item, props[key], child_path(path, key), errors)
        elif isinstance(extra, Mapping):
            _validate(item, extra, child_path(path, key), errors)


def _check_embedded(value: Mapping[str, Any], path: str, errors: list[FieldError]) -> None:
    for key in ("apiVersion", "kind"):
        if key not in value:
            errors.append(required(child_path(path, key), "must not be empty"))
        elif not isinstance(value[key], str):
            errors.append(invalid(child_path(path, key), value[key], "must be a string"))
        elif not value[key]:
            errors.append(invalid(child_path(path, key), value[key], "must not be empty"))


def _check_composition(value: Any, schema: Schema, path: str, errors: list[FieldError]) -> None:
    name = json.dumps(named(path))
    subschemas = schema.get("allOf")
    if isinstance(subschemas, list) and subschemas:
        found: list[FieldError] = []
        for sub in subschemas:
            _validate(value, sub, path, found)
        if found:
            errors.extend(found)
            errors.append(invalid(path, "", f"{name} must validate all the schemas (allOf)"))
    subschemas = schema.get("anyOf")
    if (
        isinstance(subschemas, list)
        and subschemas
        and not any(_passes(value, sub, path) for sub in subschemas)
    ):
        errors.append(invalid(path, "", f"{name} must validate at least one schema (anyOf)"))
    subschemas = schema.get("oneOf")
    if isinstance(subschemas, list) and subschemas:
        passing = sum(1 for sub in subschemas if _passes(value, sub, path))
        if passing != 1:
            detail = f"{name} must validate one and only one schema (oneOf)"
            errors.append(invalid(path, "", detail))
    negated = schema.get("not")
    if isinstance(negated, Mapping) and _passes(value, negated, path):
        errors.append(invalid(path, "", f"{name} must not validate the schema (not)"))


def _passes(value: Any, schema: Schema, path: str) -> bool:
    found: list[FieldError] = []
    _validate(value, schema, path, found)
    return not found
