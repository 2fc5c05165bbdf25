"""A CRD's validation rules (``x-kubernetes-validations``, CEL), evaluated as kube-apiserver does.

Each schema node may carry rules; a rule is evaluated with ``self`` bound to the value at that
node, typed by the schema (``number`` as a double, ``integer`` as an int), after defaulting and
pruning. A *transition rule* (one that names ``oldSelf``) is evaluated only on an update, and
only where the old object has a value at the same place: through object properties, map
values, and the items of ``x-kubernetes-list-type: map`` lists matched by their keys (as the
API server correlates them); elsewhere it is skipped. A rule that is false, or that fails to
evaluate, is a field error at the node (or at ``fieldPath`` below it), with the rule's
``reason`` (default ``FieldValueInvalid``), worded as the API server words it: ``Invalid value:
"object": <message>``, the message being ``messageExpression``'s value, else ``message``, else
``failed rule: <rule>``.

Not done: the cost budget (a rule the API server would refuse as too expensive runs here),
``optionalOldSelf``, and the variables of embedded resources' ``metadata`` beyond what the
object holds. Uses the CEL environment of the admission policies (the same Kubernetes library
functions); reads schemas, changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from celpy import celtypes

from shared import cel
from shared.schemas.field_errors import FieldError, go_value
from shared.schemas.structure import Schema, additional_of, items_of, properties_of

REASONS = {
    "FieldValueInvalid": "Invalid value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
}


@lru_cache(maxsize=1024)
def _program(text: str) -> cel.Program:
    return cel.compile_expression(text, ("self", "oldSelf"))


def check(obj: Any, schema: Schema, old: Any = None) -> list[FieldError]:
    """The rules ``obj`` breaks (``old``: the object before an update, for transition
    rules)."""
    errors: list[FieldError] = []
    _walk(obj, old, schema, "", errors)
    return errors


_RULED: dict[int, tuple[Schema, bool]] = {}
_RULED_LOCK = threading.Lock()


def _ruled(schema: Schema) -> bool:
    """Whether ``schema`` or a node below it has rules (remembered per schema node, which the
    memo keeps alive so its id is not reused): a write is only walked where rules are."""
    found = _RULED.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    below: list[Any] = [*properties_of(schema).values(), items_of(schema)]
    extra = additional_of(schema)
    if isinstance(extra, Mapping):
        below.append(extra)
    ruled = bool(schema.get("x-kubernetes-validations")) or any(
        isinstance(node, Mapping) and _ruled(node) for node in below
    )
    with _RULED_LOCK:
        _RULED[id(schema)] = (schema, ruled)
    return ruled


def _walk(value: Any, old: Any, schema: Schema, path: str, errors: list[FieldError]) -> None:
    if value is None or not _ruled(schema):
        return
    for rule in schema.get("x-kubernetes-validations") or ():
        if isinstance(rule, Mapping) and isinstance(rule.get("rule"), str):
            _evaluate(rule, value, old, schema, path, errors)
    if isinstance(value, Mapping):
        props = properties_of(schema)
        extra = additional_of(schema)
        for key, child in value.items():
            sub = props.get(key) if key in props else extra if isinstance(extra, Mapping) else None
            if sub is None:
                continue
            before = old.get(key) if isinstance(old, Mapping) else None
            _walk(child, before, sub, f"{path}.{key}" if path else str(key), errors)
    elif isinstance(value, list):
        items = items_of(schema)
        if items is None:
            return
        matched = _correlated(value, old, schema)
        for i, child in enumerate(value):
            _walk(child, matched[i], items, f"{path}[{i}]", errors)


def _correlated(value: list[Any], old: Any, schema: Schema) -> list[Any]:
    """For each item, the old item it corresponds to (None: none; only map lists
    correlate)."""
    keys = schema.get("x-kubernetes-list-map-keys")
    if schema.get("x-kubernetes-list-type") != "map" or not isinstance(old, list) or not keys:
        return [None] * len(value)

    def key(item: Any) -> tuple[Any, ...] | None:
        return tuple(item.get(k) for k in keys) if isinstance(item, Mapping) else None

    before = {key(item): item for item in old}
    return [before.get(key(item)) for item in value]


def _evaluate(
    rule: Mapping[str, Any],
    value: Any,
    old: Any,
    schema: Schema,
    path: str,
    errors: list[FieldError],
) -> None:
    text = str(rule["rule"])
    program = _program(text)
    transition = "oldSelf" in text
    if transition and old is None:
        return
    activation = {"self": typed(value, schema)}
    if transition:
        activation["oldSelf"] = typed(old, schema)
    try:
        passed = program.evaluate(activation)
    except cel.EvalError as exc:
        detail = str(exc)
    else:
        if isinstance(passed, (bool, celtypes.BoolType)) and bool(passed):
            return
        detail = _message(rule, activation)
    where = path
    field_path = rule.get("fieldPath")
    if isinstance(field_path, str) and field_path:
        where = f"{path}{field_path}" if path else field_path.lstrip(".")
    reason = str(rule.get("reason") or "FieldValueInvalid")
    if reason == "FieldValueInvalid":
        shown = f"Invalid value: {go_value(str(schema.get('type') or 'object'))}: {detail}"
    else:
        shown = f"{REASONS.get(reason, 'Invalid value')}: {detail}"
    errors.append(FieldError(where, shown, reason))


def _message(rule: Mapping[str, Any], activation: dict[str, Any]) -> str:
    expression = rule.get("messageExpression")
    if isinstance(expression, str) and expression:
        try:
            found = _program(expression).evaluate(activation)
            if isinstance(found, str) and found.strip():
                return str(found)
        except cel.EvalError:
            pass  # as the API server: fall back to the static message
    message = rule.get("message")
    if isinstance(message, str) and message:
        return message
    return f"failed rule: {rule['rule']}"


def typed(value: Any, schema: Schema) -> Any:
    """``value`` as CEL sees it under ``schema``: ``number`` fields are doubles even when
    written as integers; the rest as JSON maps to CEL."""
    kind = schema.get("type")
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return celtypes.DoubleType(float(value))
    if isinstance(value, Mapping):
        props = properties_of(schema)
        extra = additional_of(schema)
        out = {}
        for key, child in value.items():
            sub = props.get(key) if key in props else extra if isinstance(extra, Mapping) else {}
            out[celtypes.StringType(key)] = typed(child, sub or {})
        return celtypes.MapType(out)
    if isinstance(value, list):
        items = items_of(schema) or {}
        return celtypes.ListType([typed(child, items) for child in value])
    return cel.to_cel(value)
