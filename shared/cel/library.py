"""The Kubernetes CEL library functions that ``cel-python`` does not have (or has otherwise).

The string extension (``charAt``, ``indexOf``, ``lastIndexOf``, ``lowerAscii``, ``upperAscii``,
``replace``, ``split``, ``substring``, ``trim``, ``join``, ``reverse``), the Kubernetes list
library (``isSorted``, ``sum``, ``min``, ``max``, ``indexOf``, ``lastIndexOf``), the regex library
(``find``, ``findAll``), ``dyn``, and ``string`` (booleans as ``true``/``false``, as CEL writes
them). Each is a plain function of CEL values, called as a method (the receiver first).
``matches``, ``startsWith``, ``endsWith``, ``contains``, ``size`` and the macros are CEL's own.
Nothing here keeps state.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError


def _fail(text: str) -> CELEvalError:
    return CELEvalError(text, ValueError, None)


def _index_of(target: Any, item: Any, offset: Any = 0) -> Any:
    if isinstance(target, str):
        found = str(target).find(str(item), int(offset))
        return celtypes.IntType(found)
    for i, value in enumerate(target):
        if value == item:
            return celtypes.IntType(i)
    return celtypes.IntType(-1)


def _last_index_of(target: Any, item: Any, offset: Any = None) -> Any:
    if isinstance(target, str):
        end = len(target) if offset is None else int(offset) + len(str(item))
        return celtypes.IntType(str(target).rfind(str(item), 0, end))
    for i in range(len(target) - 1, -1, -1):
        if target[i] == item:
            return celtypes.IntType(i)
    return celtypes.IntType(-1)


def _split(text: Any, separator: Any, limit: Any = -1) -> Any:
    n = int(limit)
    if n == 0:
        return celtypes.ListType([])
    parts = str(text).split(str(separator), n - 1 if n > 0 else -1)
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _substring(text: Any, start: Any, end: Any = None) -> Any:
    s = str(text)
    stop = len(s) if end is None else int(end)
    if not 0 <= int(start) <= stop <= len(s):
        return _fail(f"index out of range: {int(start)}")
    return celtypes.StringType(s[int(start) : stop])


def _replace(text: Any, old: Any, new: Any, limit: Any = -1) -> Any:
    return celtypes.StringType(str(text).replace(str(old), str(new), int(limit)))


def _join(items: Any, separator: Any = "") -> Any:
    return celtypes.StringType(str(separator).join(str(i) for i in items))


def _extreme(pick: Callable[..., Any]) -> Callable[[Any], Any]:
    def extreme(items: Any) -> Any:
        if not items:
            return _fail(f"{pick.__name__}(list) argument must not be empty")
        return pick(items)

    return extreme


def _sum(items: Any) -> Any:
    total: Any = celtypes.IntType(0)
    for i, item in enumerate(items):
        total = item if i == 0 else total + item
    return total


def _string(value: Any) -> Any:
    """``string()``, with booleans as CEL writes them."""
    if isinstance(value, celtypes.BoolType):
        return celtypes.StringType("true" if value else "false")
    return celtypes.StringType(value)


def _find(text: Any, pattern: Any) -> Any:
    found = re.search(str(pattern), str(text))
    return celtypes.StringType(found.group(0) if found else "")


def _find_all(text: Any, pattern: Any, limit: Any = -1) -> Any:
    found = [m.group(0) for m in re.finditer(str(pattern), str(text))]
    n = int(limit)
    return celtypes.ListType([celtypes.StringType(f) for f in (found if n < 0 else found[:n])])


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "charAt": lambda s, i: celtypes.StringType(str(s)[int(i)] if int(i) < len(s) else ""),
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "lowerAscii": lambda s: celtypes.StringType(str(s).lower()),
    "upperAscii": lambda s: celtypes.StringType(str(s).upper()),
    "replace": _replace,
    "split": _split,
    "substring": _substring,
    "trim": lambda s: celtypes.StringType(str(s).strip()),
    "join": _join,
    "reverse": lambda s: celtypes.StringType(str(s)[::-1]),
    "isSorted": lambda items: celtypes.BoolType(list(items) == sorted(items)),
    "sum": _sum,
    "min": _extreme(min),
    "max": _extreme(max),
    "find": _find,
    "findAll": _find_all,
    "dyn": lambda value: value,
    "string": _string,
}
