"""What kube-apiserver does with a custom object against its CRD's structural schema.

A write of a custom resource goes through three steps, in this order, each a function here:
``apply_defaults`` (``default`` values, and dropping ``null`` where the schema does not allow it),
``prune`` (fields the schema does not declare are removed; their paths feed strict field
validation's ``unknown field "spec.foo"``) and ``validate`` (OpenAPI v3 value validation, giving
field errors worded like the API server's).

Not evaluated, on purpose: ``x-kubernetes-validations`` (CEL rules), the ``int32``/``int64``
range of integer formats, and the ObjectMeta rules for ``metadata`` (the caller validates root
metadata itself; embedded ``metadata`` is kept as it is).

Pure data: no I/O, no storage, no HTTP. Objects are plain JSON values (dict, list, str, int,
float, bool, None).
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Schema = Mapping[str, Any]

_ROOT_META_FIELDS = ("apiVersion", "kind", "metadata")

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
)


@dataclass(frozen=True)
class FieldError:
    """One field error, as the API server reports it in a 422 ``Status``.

    ``message`` is the part after ``<path>: `` (the ``StatusCause.message``); ``reason`` is the
    ``StatusCause.reason`` (``FieldValueInvalid``, ``FieldValueRequired``...).
    """

    path: str
    message: str
    reason: str = "FieldValueInvalid"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


# --------------------------------------------------------------------------- errors


def _go_value(value: Any) -> str:
    """A bad value the way apimachinery's field errors print it (Go ``%q`` / ``%v``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping) and all(_is_scalar(v) for v in value.values()):
        # Go's %#v of map[string]interface{}: keys sorted, values as Go literals.
        inner = ", ".join(f"{json.dumps(k)}:{_go_value(value[k])}" for k in sorted(value))
        return "map[string]interface {}{" + inner + "}"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _go_number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _required(path: str, detail: str = "") -> FieldError:
    message = "Required value" + (f": {detail}" if detail else "")
    return FieldError(path, message, "FieldValueRequired")


def _invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, f"Invalid value: {_go_value(value)}: {detail}", "FieldValueInvalid")


def _not_supported(path: str, value: Any, allowed: Sequence[Any]) -> FieldError:
    shown = [v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for v in allowed]
    detail = "supported values: " + ", ".join(json.dumps(s, ensure_ascii=False) for s in shown)
    return FieldError(
        path, f"Unsupported value: {_go_value(value)}: {detail}", "FieldValueNotSupported"
    )


def _duplicate(path: str, value: Any) -> FieldError:
    return FieldError(path, f"Duplicate value: {_go_value(value)}", "FieldValueDuplicate")


def _too_long(path: str, maximum: int) -> FieldError:
    return FieldError(path, f"Too long: may not be longer than {maximum}", "FieldValueTooLong")


def _too_many(path: str, actual: int, maximum: int) -> FieldError:
    return FieldError(
        path, f"Too many: {actual}: must have at most {maximum} items", "FieldValueTooMany"
    )


# --------------------------------------------------------------------------- paths


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def _named(path: str) -> str:
    """How go-openapi names a field inside its messages (``spec.x in body ...``)."""
    return path or "."


# --------------------------------------------------------------------------- schema access


def schema_for_version(crd: Mapping[str, Any], version: str) -> Schema | None:
    """The ``openAPIV3Schema`` of one version of an ``apiextensions.k8s.io/v1`` CRD, or None."""
    for entry in crd.get("spec", {}).get("versions") or ():
        if entry.get("name") == version:
            schema = (entry.get("schema") or {}).get("openAPIV3Schema")
            return schema if isinstance(schema, Mapping) else None
    return None


def _properties(schema: Schema) -> Mapping[str, Schema]:
    props = schema.get("properties")
    return props if isinstance(props, Mapping) else {}


def _additional(schema: Schema) -> Schema | bool | None:
    """``additionalProperties`` as a schema, True (anything goes) or None (not allowed)."""
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        return extra
    if extra is True:
        return True
    return None


def _items(schema: Schema) -> Schema | None:
    items = schema.get("items")
    return items if isinstance(items, Mapping) else None


def _preserves_unknown(schema: Schema) -> bool:
    return schema.get("x-kubernetes-preserve-unknown-fields") is True


def _embedded(schema: Schema) -> bool:
    return schema.get("x-kubernetes-embedded-resource") is True


# --------------------------------------------------------------------------- defaulting


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
        props = _properties(schema)
        extra = _additional(schema)
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
            _drop_disallowed_nulls(item, _items(schema))


def _default(value: Any, schema: Schema | None) -> None:
    if schema is None:
        return
    if isinstance(value, dict):
        props = _properties(schema)
        for key, sub in props.items():
            if "default" not in sub:
                continue
            if key not in value or (value[key] is None and not sub.get("nullable")):
                value[key] = copy.deepcopy(sub["default"])
        extra = _additional(schema)
        for key, item in value.items():
            if key in props:
                _default(item, props[key])
            elif isinstance(extra, Mapping):
                if item is None and "default" in extra and not extra.get("nullable"):
                    value[key] = item = copy.deepcopy(extra["default"])
                _default(item, extra)
    elif isinstance(value, list):
        items = _items(schema)
        if items is None:
            return
        for i, item in enumerate(value):
            if item is None and "default" in items and not items.get("nullable"):
                value[i] = item = copy.deepcopy(items["default"])
            _default(item, items)


# --------------------------------------------------------------------------- pruning


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
    if schema is not None and _preserves_unknown(schema):
        _prune_declared_only(value, schema, path, pruned, root=root)
        return
    if isinstance(value, dict):
        props = _properties(schema) if schema is not None else {}
        extra = _additional(schema) if schema is not None else None
        embedded = schema is not None and _embedded(schema)
        for key, item in list(value.items()):
            if root and key in _ROOT_META_FIELDS:
                continue
            if embedded and _is_kept_meta_field(key, item):
                continue
            if key in props:
                _prune(item, props[key], _child(path, key), pruned)
            elif extra is True:
                continue
            elif isinstance(extra, Mapping):
                _prune(item, extra, _child(path, key), pruned)
            else:
                del value[key]
                pruned.append(_child(path, key))
    elif isinstance(value, list):
        items = _items(schema) if schema is not None else None
        for i, item in enumerate(value):
            _prune(item, items, _index(path, i), pruned)


def _prune_declared_only(
    value: Any, schema: Schema, path: str, pruned: list[str], *, root: bool
) -> None:
    """Below ``x-kubernetes-preserve-unknown-fields``: keep unknown fields, prune inside known."""
    if isinstance(value, dict):
        props = _properties(schema)
        extra = _additional(schema)
        keeps_meta = root or _embedded(schema)
        for key, item in value.items():
            if keeps_meta and key in _ROOT_META_FIELDS:
                continue
            if key in props:
                _prune(item, props[key], _child(path, key), pruned)
            elif isinstance(extra, Mapping):
                _prune(item, extra, _child(path, key), pruned)
    elif isinstance(value, list):
        items = _items(schema)
        if items is None:
            return
        for i, item in enumerate(value):
            _prune_declared_only(item, items, _index(path, i), pruned, root=False)


def _is_kept_meta_field(key: str, value: Any) -> bool:
    if key in ("apiVersion", "kind"):
        return isinstance(value, str)
    if key == "metadata":
        return isinstance(value, dict)
    return False


# --------------------------------------------------------------------------- validation


def validate(obj: Mapping[str, Any], schema: Schema) -> list[FieldError]:
    """Validate an object against a structural schema; return the field errors, in order.

    Covers ``type`` (with ``nullable``, integers accepted as numbers and integral numbers as
    integers), ``x-kubernetes-int-or-string``, ``required``, ``enum``, numeric bounds and
    ``multipleOf``, string length, ``pattern`` (``re.search``), ``format: date-time``, item and
    property counts, ``uniqueItems``, ``allOf``/``anyOf``/``oneOf``/``not``,
    ``x-kubernetes-list-type: set|map`` duplicates and the ``apiVersion``/``kind`` of embedded
    resources. ``x-kubernetes-validations`` (CEL) is NOT evaluated. Unknown fields are not errors
    here: ``prune`` reports them.
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
    detail = f"{_named(path)} in body must be of type {','.join(wanted)}: {json.dumps(actual)}"
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
        errors.append(_not_supported(path, value, allowed))


def _check_number(value: float, schema: Schema, path: str, errors: list[FieldError]) -> None:
    name = _named(path)
    minimum = schema.get("minimum")
    if isinstance(minimum, (int, float)):
        if schema.get("exclusiveMinimum") is True and value <= minimum:
            detail = f"{name} in body should be greater than {_go_number(minimum)}"
            errors.append(_invalid(path, value, detail))
        elif value < minimum:
            detail = f"{name} in body should be greater than or equal to {_go_number(minimum)}"
            errors.append(_invalid(path, value, detail))
    maximum = schema.get("maximum")
    if isinstance(maximum, (int, float)):
        if schema.get("exclusiveMaximum") is True and value >= maximum:
            detail = f"{name} in body should be less than {_go_number(maximum)}"
            errors.append(_invalid(path, value, detail))
        elif value > maximum:
            detail = f"{name} in body should be less than or equal to {_go_number(maximum)}"
            errors.append(_invalid(path, value, detail))
    factor = schema.get("multipleOf")
    if isinstance(factor, (int, float)) and factor > 0:
        quotient = value / factor
        if not math.isclose(quotient, round(quotient), rel_tol=0, abs_tol=1e-9):
            detail = f"{name} in body should be a multiple of {_go_number(factor)}"
            errors.append(_invalid(path, value, detail))


def _check_string(value: str, schema: Schema, path: str, errors: list[FieldError]) -> None:
    name = _named(path)
    max_length = schema.get("maxLength")
    if isinstance(max_length, int) and len(value) > max_length:
        errors.append(_too_long(path, max_length))
    min_length = schema.get("minLength")
    if isinstance(min_length, int) and len(value) < min_length:
        detail = f"{name} in body should be at least {min_length} chars long"
        errors.append(_invalid(path, value, detail))
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and re.search(pattern, value) is None:
        errors.append(_invalid(path, value, f"{name} in body should match '{pattern}'"))
    fmt = schema.get("format")
    if fmt in ("date-time", "datetime") and not _RFC3339.match(value):
        detail = f"{name} in body must be of type {fmt}: {json.dumps(value)}"
        errors.append(_invalid(path, value, detail))


def _check_array(value: list[Any], schema: Schema, path: str, errors: list[FieldError]) -> None:
    name = _named(path)
    max_items = schema.get("maxItems")
    if isinstance(max_items, int) and len(value) > max_items:
        errors.append(_too_many(path, len(value), max_items))
    min_items = schema.get("minItems")
    if isinstance(min_items, int) and len(value) < min_items:
        detail = f"{name} in body should have at least {min_items} items"
        errors.append(_invalid(path, len(value), detail))
    if schema.get("uniqueItems") is True and len({_canonical(v) for v in value}) < len(value):
        errors.append(_invalid(path, value, f"{name} in body shouldn't contain duplicates"))
    _check_list_type(value, schema, path, errors)
    items = _items(schema)
    if items is not None:
        for i, item in enumerate(value):
            _validate(item, items, _index(path, i), errors)


def _check_list_type(value: list[Any], schema: Schema, path: str, errors: list[FieldError]) -> None:
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        seen: set[str] = set()
        for i, item in enumerate(value):
            key = _canonical(item)
            if key in seen:
                errors.append(_duplicate(_index(path, i), item))
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
                errors.append(_duplicate(_index(path, i), identity))
            seen_keys.add(key)


def _check_object(
    value: Mapping[str, Any], schema: Schema, path: str, errors: list[FieldError]
) -> None:
    name = _named(path)
    max_props = schema.get("maxProperties")
    if isinstance(max_props, int) and len(value) > max_props:
        errors.append(_too_many(path, len(value), max_props))
    min_props = schema.get("minProperties")
    if isinstance(min_props, int) and len(value) < min_props:
        detail = f"{name} in body should have at least {min_props} properties"
        errors.append(_invalid(path, len(value), detail))
    for key in schema.get("required") or ():
        if key not in value:
            errors.append(_required(_child(path, key)))
    if _embedded(schema) and value:
        _check_embedded(value, path, errors)
    props = _properties(schema)
    extra = _additional(schema)
    for key, item in value.items():
        if key in props:
            _validate(item, props[key], _child(path, key), errors)
        elif isinstance(extra, Mapping):
            _validate(item, extra, _child(path, key), errors)


def _check_embedded(value: Mapping[str, Any], path: str, errors: list[FieldError]) -> None:
    for key in ("apiVersion", "kind"):
        if key not in value:
            errors.append(_required(_child(path, key), "must not be empty"))
        elif not isinstance(value[key], str):
            errors.append(_invalid(_child(path, key), value[key], "must be a string"))
        elif not value[key]:
            errors.append(_invalid(_child(path, key), value[key], "must not be empty"))


def _check_composition(value: Any, schema: Schema, path: str, errors: list[FieldError]) -> None:
    name = json.dumps(_named(path))
    subschemas = schema.get("allOf")
    if isinstance(subschemas, list) and subschemas:
        found: list[FieldError] = []
        for sub in subschemas:
            _validate(value, sub, path, found)
        if found:
            errors.extend(found)
            errors.append(_invalid(path, "", f"{name} must validate all the schemas (allOf)"))
    subschemas = schema.get("anyOf")
    if (
        isinstance(subschemas, list)
        and subschemas
        and not any(_passes(value, sub, path) for sub in subschemas)
    ):
        errors.append(_invalid(path, "", f"{name} must validate at least one schema (anyOf)"))
    subschemas = schema.get("oneOf")
    if isinstance(subschemas, list) and subschemas:
        passing = sum(1 for sub in subschemas if _passes(value, sub, path))
        if passing != 1:
            detail = f"{name} must validate one and only one schema (oneOf)"
            errors.append(_invalid(path, "", detail))
    negated = schema.get("not")
    if isinstance(negated, Mapping) and _passes(value, negated, path):
        errors.append(_invalid(path, "", f"{name} must not validate the schema (not)"))


def _passes(value: Any, schema: Schema, path: str) -> bool:
    found: list[FieldError] = []
    _validate(value, schema, path, found)
    return not found
