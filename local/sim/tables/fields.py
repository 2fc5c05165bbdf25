"""Reading fields of an untyped object for printing, without ever failing on its shape.

A printer must print whatever is stored, so every accessor here tolerates a missing or
wrongly typed field and falls back to an empty value. Knows no kind and computes no cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is an object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object's ``metadata`` (empty when it has none)."""
    return mapping(obj.get("metadata"))


def dig(obj: Any, *keys: str) -> Any:
    """The value at ``keys`` below ``obj``, or None where an object is missing on the way."""
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def as_int(value: Any, default: int = 0) -> int:
    """``value`` if it is an integer (not a boolean), else ``default``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def condition_true(conditions: Any, condition_type: str) -> bool:
    """Whether ``conditions`` hold one of ``condition_type`` with status ``True``."""
    return any(
        isinstance(c, Mapping) and c.get("type") == condition_type and c.get("status") == "True"
        for c in as_list(conditions)
    )
