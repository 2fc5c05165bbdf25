"""Field errors worded as the API server words them in a 422 ``Status``.

:class:`FieldError` and one constructor per kind of error (required, invalid, unsupported,
duplicate, too long, too many), printing bad values as Go does. Decides no error itself
(``validation`` does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


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


def go_value(value: Any) -> str:
    """A bad value the way apimachinery's field errors print it (Go ``%q`` / ``%v``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping) and all(_is_scalar(v) for v in value.values()):
        # Go's %#v of map[string]interface{}: keys sorted, values as Go literals.
        inner = ", ".join(f"{json.dumps(k)}:{go_value(value[k])}" for k in sorted(value))
        return "map[string]interface {}{" + inner + "}"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def go_number(value: float | int) -> str:
    """A number as Go prints it (integral floats without a fraction)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def required(path: str, detail: str = "") -> FieldError:
    """``Required value``."""
    message = "Required value" + (f": {detail}" if detail else "")
    return FieldError(path, message, "FieldValueRequired")


def invalid(path: str, value: Any, detail: str) -> FieldError:
    """``Invalid value``."""
    return FieldError(path, f"Invalid value: {go_value(value)}: {detail}", "FieldValueInvalid")


def not_supported(path: str, value: Any, allowed: Sequence[Any]) -> FieldError:
    """``Unsupported value``, with the supported ones."""
    shown = [v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for v in allowed]
    detail = "supported values: " + ", ".join(json.dumps(s, ensure_ascii=False) for s in shown)
    return FieldError(
        path, f"Unsupported value: {go_value(value)}: {detail}", "FieldValueNotSupported"
    )


def duplicate(path: str, value: Any) -> FieldError:
    """``Duplicate value``."""
    return FieldError(path, f"Duplicate value: {go_value(value)}", "FieldValueDuplicate")


def too_long(path: str, maximum: int) -> FieldError:
    """``Too long``."""
    return FieldError(path, f"Too long: may not be longer than {maximum}", "FieldValueTooLong")


def too_many(path: str, actual: int, maximum: int) -> FieldError:
    """``Too many``."""
    return FieldError(
        path, f"Too many: {actual}: must have at most {maximum} items", "FieldValueTooMany"
    )


def named(path: str) -> str:
    """How go-openapi names a field inside its messages (``spec.x in body ...``)."""
    return path or "."
