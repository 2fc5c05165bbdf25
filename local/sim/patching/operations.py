"""JSON patch (RFC 6902, ``application/json-patch+json``): a list of operations, via ``jsonpatch``.

Validates every operation before applying any, and words each failure the way a caller can act
on (the missing path, the failed test's actual value). Never mutates its inputs and knows
nothing of Kubernetes kinds.
"""

from __future__ import annotations

from typing import Any, Final

import jsonpatch
import jsonpointer

from local.sim.objects import clone
from local.sim.patching.errors import PatchError
from local.sim.patching.values import MISSING, brief, json_type

_OPERATIONS: Final = ("add", "remove", "replace", "move", "copy", "test")
_NEEDS_VALUE: Final = frozenset({"add", "replace", "test"})
_NEEDS_FROM: Final = frozenset({"move", "copy"})
_WRITES_NEW_PATH: Final = frozenset({"add", "move", "copy"})  # only the parent must exist


def json_patch(target: Any, ops: Any) -> Any:
    """Apply a JSON patch (a list of operations) and return the patched copy of ``target``."""
    operations = _validated_operations(ops)
    document = clone(target)
    for operation in operations:
        document = _apply_operation(document, operation)
    return document


def _validated_operations(ops: Any) -> list[dict[str, Any]]:
    if not isinstance(ops, list):
        raise PatchError(
            f"json patch: the patch must be a JSON array of operations, not {json_type(ops)}"
        )
    for index, op in enumerate(ops):
        where = f"json patch: operations[{index}]"
        if not isinstance(op, dict):
            raise PatchError(f"{where} must be an object, not {json_type(op)}")
        name = op.get("op")
        if name not in _OPERATIONS:
            expected = ", ".join(_OPERATIONS)
            raise PatchError(f"{where}: unknown op {brief(name)}; expected one of {expected}")
        pointer_fields = ("from", "path") if name in _NEEDS_FROM else ("path",)
        for field in pointer_fields:
            _check_pointer(where, field, op.get(field, MISSING))
        if name in _NEEDS_VALUE and "value" not in op:
            raise PatchError(f'{where}: "{name}" operation is missing "value"')
    copied: list[dict[str, Any]] = clone(ops)
    return copied


def _check_pointer(where: str, field: str, pointer: Any) -> None:
    if pointer is MISSING:
        raise PatchError(f'{where} is missing "{field}"')
    if not isinstance(pointer, str):
        raise PatchError(f'{where}: "{field}" must be a string, not {json_type(pointer)}')
    try:
        jsonpointer.JsonPointer(pointer)
    except jsonpointer.JsonPointerException as exc:
        raise PatchError(
            f'{where}: "{field}" {brief(pointer)} is not a JSON pointer: {exc}'
        ) from None


def _apply_operation(document: Any, op: dict[str, Any]) -> Any:
    try:
        return jsonpatch.JsonPatch([op]).apply(document, in_place=True)
    except jsonpatch.JsonPatchTestFailed:
        raise PatchError(_test_failure(document, op)) from None
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise PatchError(_operation_failure(document, op, exc)) from None


def _test_failure(document: Any, op: dict[str, Any]) -> str:
    path = op["path"]
    actual = jsonpointer.JsonPointer(path).resolve(document, MISSING)
    if actual is MISSING:
        return f"json patch: test operation failed: path {path} does not exist"
    return (
        f"json patch: test operation failed: value at {path} is {brief(actual)}, "
        f"expected {brief(op['value'])}"
    )


def _operation_failure(document: Any, op: dict[str, Any], exc: Exception) -> str:
    name, path = op["op"], op["path"]
    checks = [(op["from"], False)] if name in _NEEDS_FROM else []
    checks.append((path, name in _WRITES_NEW_PATH))
    for pointer, parent_only in checks:
        missing = _first_missing(document, pointer, parent_only=parent_only)
        if missing is not None:
            return f"json patch: {name} operation failed: path {missing} does not exist"
    return f"json patch: {name} operation on {path} failed: {str(exc)[:200]}"


def _first_missing(document: Any, pointer: str, *, parent_only: bool) -> str | None:
    """The shortest prefix of ``pointer`` that does not resolve in ``document``, if any."""
    parts = jsonpointer.JsonPointer(pointer).parts
    if parent_only:
        parts = parts[:-1]
    for end in range(1, len(parts) + 1):
        prefix = jsonpointer.JsonPointer.from_parts(parts[:end])
        if prefix.resolve(document, MISSING) is MISSING:
            return str(prefix.path)
    return None
