"""A seeded random sweep over the condition language (``shared.analysis.expressions``).

Covered: no input, garbage or mostly well-formed, makes ``parse()`` or ``evaluate()`` raise
anything but ExpressionError, and what evaluation gives is plain data.
"""

from __future__ import annotations

import random
from typing import Any

from shared.analysis import expressions
from shared.analysis.expressions import ExpressionError
from tests.shared.analysis.expressions.conftest import INF, NAN

_WORDS = [
    "result",
    "result[0]",
    "result.status",
    "x",
    "r",
    "for",
    "in",
    "if",
    "else",
    "not",
    "and",
    "or",
    "&&",
    "||",
    "!",
    "!=",
    "==",
    "<",
    ">=",
    "**",
    "*",
    "/",
    "//",
    "%",
    "+",
    "-",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    ".",
    "_x",
    "__class__",
    "len",
    "all",
    "any",
    "min",
    "max",
    "sum",
    "abs",
    "round",
    "float",
    "int",
    "isNaN",
    "isInf",
    "isNil",
    "default",
    "asInt",
    "asFloat",
    "0",
    "1",
    "-1",
    "2.5",
    "1e308",
    "'a'",
    '"&&"',
    "true",
    "false",
    "nil",
    "None",
    "lambda",
    ":=",
    "is",
    "{",
    "}",
    "'",
    "\\",
    "f'",
    "10**9",
    "1j",
    "...",
    "$",
    "@",
    "~",
    "&",
    "|",
    "^",
    ";",
    "é",
]
_ATOMS = ["result", "0", "1", "-1", "2.5", "1e308", "'a'", "''", "true", "nil", "[]", "[1, 2]"]
_ATOMS += ["result[0]", "result.n", "x"]
_OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", ">=", "&&", "||", "and", "or"]
_OPERATORS += ["in", "not in", "is"]
_FUNCTIONS = list(expressions.FUNCTIONS)
_RESULTS: list[Any] = [None, 0, 1.5, NAN, INF, -3, "ok", "", [1, 2.5, NAN], [], [[1, 2], [3]]]
_RESULTS += [{"status": "ok", "n": [1]}, {}, True, [None, "a", {}], 10**300, list(range(40))]
_PLAIN = (type(None), bool, int, float, str, list, tuple, dict)


def _garbage(rng: random.Random) -> str:
    if rng.random() < 0.4:
        alphabet = "result[]()0123456789.+-*/%<>=!&|'\"_abcx ,:\n"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 12)))


def _shaped(rng: random.Random, depth: int) -> str:
    """A random, mostly well-formed condition, so evaluation gets exercised too."""
    if depth <= 0:
        return rng.choice(_ATOMS)
    a, b, c = (_shaped(rng, depth - 1) for _ in range(3))
    shapes = [
        f"({a} {rng.choice(_OPERATORS)} {b})",
        f"{rng.choice(['!', 'not ', '-'])}{a}",
        f"{rng.choice(_FUNCTIONS)}({a})",
        f"default({a}, {b})",
        f"min({a}, {b})",
        f"{a}[{b}]",
        f"{a}[{rng.choice(['', '1', '-1'])}:{rng.choice(['', '2', 'x'])}]",
        f"[{a} for x in {b} if {c}]",
        f"any({a} for x in {b})",
        f"({a} if {b} else {c})",
        f"[{a}, {b}]",
    ]
    return rng.choice(shapes)


def test_random_input_only_ever_raises_expression_error() -> None:
    rng = random.Random(20260101)
    evaluated = 0
    for round_ in range(1500):
        text = _garbage(rng) if round_ % 3 == 0 else _shaped(rng, rng.randint(1, 4))
        try:
            expression = expressions.parse(text)
        except ExpressionError:
            continue
        for result in _RESULTS:
            try:
                value = expression.evaluate(result)
            except ExpressionError:
                continue
            evaluated += 1
            assert isinstance(value, _PLAIN)  # plain data only: no function or object leaks
    assert evaluated > 1000  # the sweep reached the interpreter, not only the parser
