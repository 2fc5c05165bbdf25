"""What the interpreter and the functions know of values: their kind, how they are described in
messages, and the checks that keep numbers and sequences within :mod:`.limits`.

Pure helpers on plain data; they raise :class:`~.errors.Failure` and never evaluate anything.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping, Sequence
from typing import Any

from shared.analysis.expressions.errors import Failure
from shared.analysis.expressions.limits import MAX_EXPONENT, MAX_INT_BITS


def kind(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    return type(value).__name__


REPR = reprlib.Repr()
REPR.maxstring = 40
REPR.maxother = 40
REPR.maxlist = 6
REPR.maxtuple = 6
REPR.maxdict = 4
REPR.maxlevel = 3


def describe(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an int of {value.bit_length()} bits"
    return f"{kind(value)} {REPR.repr(value)}"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


def sized(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple, Mapping)) else 1


def check_int(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise Failure(f"number too large (more than {MAX_INT_BITS} bits)")
    if isinstance(value, complex):
        raise Failure("the result would be a complex number")
    return value


def check_exponent(exponent: Any) -> None:
    if is_number(exponent) and not abs(exponent) <= MAX_EXPONENT:
        raise Failure(f"exponent {describe(exponent)} is too large (at most {MAX_EXPONENT})")


def items_of(value: Any, what: str) -> Sequence[Any]:
    if isinstance(value, (list, tuple, str)):
        return value
    if isinstance(value, Mapping):
        return list(value)
    raise Failure(f"{what} needs a list, string or map, not {describe(value)}")
