"""Reading one field of a spec: the small checks every parser in the package shares.

Each reader takes the raw value, the field's path (``where``) and the list of problems: a value
that does not fit appends a problem naming the path and yields a stand-in, so a parser can go on
and report every problem at once. Plain data in and out; nothing here knows what a template, a
metric or a provider is, and nothing here may import from the rest of the package.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any


def json_copy(value: Any) -> Any:
    """A deep copy of ``value`` as plain JSON data (tuples become lists)."""
    return json.loads(json.dumps(value))


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (``True`` and ``False`` are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def int_or_string(value: Any, where: str, problems: list[str]) -> int:
    """A non-negative integer, written as a number or a string of digits (Argo's intstr)."""
    if is_int(value) and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    problems.append(f"{where} must be a non-negative integer, got {value!r}")
    return 0


def string(value: Any, where: str, problems: list[str]) -> str:
    """A non-empty string; ``""`` with a problem otherwise."""
    if isinstance(value, str) and value:
        return value
    problems.append(f"{where} must be a non-empty string")
    return ""


def unknown_keys(
    raw: Mapping[str, Any], known: Iterable[str], where: str, problems: list[str]
) -> None:
    """A problem listing the keys of ``raw`` that are not ``known``."""
    unknown = sorted(set(raw) - set(known))
    if unknown:
        problems.append(f"{where} has unknown field(s) {', '.join(unknown)}")


def number(value: Any) -> float | None:
    """``value`` as a float when it is a number or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
