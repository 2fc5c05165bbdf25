"""The functions a condition may call (:data:`FUNCTIONS`): what each takes and computes.

Each function checks its arguments and raises :class:`~.errors.Failure` with a readable reason;
the ones that walk a list count their work on the interpreter running them (:class:`Budget`).
Nothing else: a function never sees the tree, the text or the environment of the condition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.analysis.expressions.errors import Failure
from shared.analysis.expressions.limits import MAX_EXPONENT, MAX_NODES, MAX_NUMBER_TEXT
from shared.analysis.expressions.values import check_int, describe, is_number, items_of, kind


class Budget(Protocol):
    """What a function asks of the interpreter running it: to count ``count`` steps of work."""

    def tick(self, count: int = 1) -> None: ...


@dataclass(frozen=True)
class Function:
    least: int
    most: int
    implementation: Callable[..., Any]

    def arity(self) -> str:
        if self.least == self.most:
            return f"{self.least} argument{'' if self.least == 1 else 's'}"
        if self.most >= MAX_NODES:
            return f"{self.least} or more arguments"
        return f"{self.least} or {self.most} arguments"


def _number(value: Any, name: str) -> Any:
    if not is_number(value):
        raise Failure(f"{name}() needs a number, not {describe(value)}")
    return value


def _fn_len(run: Budget, value: Any) -> int:
    return len(items_of(value, "len()"))


def _fn_all(run: Budget, value: Any) -> bool:
    items = items_of(value, "all()")
    run.tick(len(items))
    return all(items)


def _fn_any(run: Budget, value: Any) -> bool:
    items = items_of(value, "any()")
    run.tick(len(items))
    return any(items)


def _extreme(run: Budget, name: str, pick: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    items: Sequence[Any] = items_of(args[0], f"{name}()") if len(args) == 1 else args
    if not items:
        raise Failure(f"{name}() of an empty list")
    run.tick(len(items))
    try:
        return pick(items)
    except TypeError:
        kinds = sorted({kind(item) for item in items})
        raise Failure(f"{name}() cannot compare {' and '.join(kinds)}") from None


def _fn_min(run: Budget, *args: Any) -> Any:
    return _extreme(run, "min", min, args)


def _fn_max(run: Budget, *args: Any) -> Any:
    return _extreme(run, "max", max, args)


def _fn_sum(run: Budget, value: Any) -> Any:
    items = items_of(value, "sum()")
    run.tick(len(items))
    for item in items:
        _number(item, "sum")
    try:
        return check_int(sum(items))
    except OverflowError:
        raise Failure("number too large") from None


def _fn_abs(run: Budget, value: Any) -> Any:
    return abs(_number(value, "abs"))


def _fn_round(run: Budget, value: Any, digits: Any = None) -> Any:
    _number(value, "round")
    if digits is not None and (not isinstance(digits, int) or abs(digits) > MAX_EXPONENT):
        raise Failure(f"round() digits must be a whole number up to {MAX_EXPONENT}")
    try:
        return round(value) if digits is None else round(value, digits)
    except (ValueError, OverflowError):
        raise Failure(f"cannot round {describe(value)}") from None


def _fn_float(run: Budget, value: Any) -> float:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise Failure(f"not a number: {describe(value)}") from None
    try:
        return float(_number(value, "float"))
    except OverflowError:
        raise Failure("number too large for a float") from None


def _fn_int(run: Budget, value: Any) -> int:
    if isinstance(value, str):
        if len(value) > MAX_NUMBER_TEXT:
            raise Failure(f"not a number: a string of {len(value)} characters")
        try:
            return int(value)
        except ValueError:
            raise Failure(f"not a whole number: {describe(value)}") from None
    try:
        return int(_number(value, "int"))
    except (ValueError, OverflowError):
        raise Failure(f"cannot make a whole number of {describe(value)}") from None


def _fn_is_nan(run: Budget, value: Any) -> bool:
    if not is_number(value):
        hint = " (for a list: any(isNaN(r) for r in result))" if isinstance(value, list) else ""
        raise Failure(f"isNaN() needs a number, not {describe(value)}{hint}")
    return isinstance(value, float) and math.isnan(value)


def _fn_is_inf(run: Budget, value: Any) -> bool:
    if not is_number(value):
        hint = " (for a list: any(isInf(r) for r in result))" if isinstance(value, list) else ""
        raise Failure(f"isInf() needs a number, not {describe(value)}{hint}")
    return isinstance(value, float) and math.isinf(value)


def _fn_is_nil(run: Budget, value: Any) -> bool:
    return value is None


def _fn_default(run: Budget, value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


FUNCTIONS: Mapping[str, Function] = {
    "len": Function(1, 1, _fn_len),
    "all": Function(1, 1, _fn_all),
    "any": Function(1, 1, _fn_any),
    "min": Function(1, MAX_NODES, _fn_min),
    "max": Function(1, MAX_NODES, _fn_max),
    "sum": Function(1, 1, _fn_sum),
    "abs": Function(1, 1, _fn_abs),
    "round": Function(1, 2, _fn_round),
    "float": Function(1, 1, _fn_float),
    "int": Function(1, 1, _fn_int),
    "asFloat": Function(1, 1, _fn_float),
    "asInt": Function(1, 1, _fn_int),
    "isNaN": Function(1, 1, _fn_is_nan),
    "isInf": Function(1, 1, _fn_is_inf),
    "isNil": Function(1, 1, _fn_is_nil),
    "default": Function(2, 2, _fn_default),
}
"""Every function a condition may call, with how many arguments it takes."""
