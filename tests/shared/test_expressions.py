"""Metric conditions: what they evaluate to, what parse() refuses, and what evaluation refuses.

Covers the Argo-style examples on scalar, vector and map results; the expr-lang operators
``&& || !`` (translated on tokens, so string literals and ``!=`` stay intact); chained
comparisons, comprehensions, map keys, the functions and the isNaN/isInf semantics; every class
of refused input with its message and position (dunder attributes, imports, lambdas, walrus,
f-strings, method calls, calls of anything not whitelisted, huge powers and repetitions, too
long, too deep, too complex); runtime errors and bounds (index, types, division, work budget,
sizes); that neither parse() nor evaluate() ever compiles or evals anything; and a seeded
random sweep showing no input raises anything but ExpressionError.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import pickle
import random
from typing import Any

import pytest

from shared import expressions
from shared.expressions import ExpressionError

NAN = float("nan")
INF = float("inf")


def _value(text: str, result: Any) -> Any:
    return expressions.parse(text).evaluate(result)


def _refused(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        expressions.parse(text)
    assert str(caught.value).startswith(f'invalid condition "{text[:200]}')
    return caught.value


def _fails(text: str, result: Any) -> ExpressionError:
    expression = expressions.parse(text)
    with pytest.raises(ExpressionError) as caught:
        expression.evaluate(result)
    assert str(caught.value).startswith(f'cannot evaluate condition "{text}": ')
    assert caught.value.evaluating
    return caught.value


# --------------------------------------------------------------------------- what conditions give


@pytest.mark.parametrize(
    ("text", "result", "expected"),
    [
        ("result[0] >= 0.99", [0.995], True),
        ("result[0] >= 0.99", [0.98, 1.0], False),
        ("result >= 0.99", 0.991, True),
        ("len(result) > 0 and result[0] < 500", [120.5], True),
        ("len(result) > 0 and result[0] < 500", [], False),
        ("all(r < 0.5 for r in result)", [0.1, 0.49], True),
        ("all(r < 0.5 for r in result)", [0.1, 0.5], False),
        ("any([r > 2 for r in result])", [1, 3], True),
        ("isNaN(result)", NAN, True),
        ("isNaN(result)", 0.5, False),
        ("isNaN(result) || result >= 0.95", NAN, True),
        ("result > 0.95 && result < 1.5", 1.2, True),
        ("result > 0.95 && result < 1.5", 1.5, False),
        ("result > 0.95 && result < 1.5", NAN, False),
        ('result["status"] == "ok"', {"status": "ok"}, True),
        ('result.status == "ok"', {"status": "down"}, False),
        ("result.ok && result.successPercent >= 0.90", {"ok": True, "successPercent": 0.93}, True),
        ("result.data.items[1].latency < 300", {"data": {"items": [{}, {"latency": 250}]}}, True),
        ("sum(result) / len(result) < 0.2", [0.1, 0.2, 0.15], True),
        ("max(result) - min(result) <= 1", [3, 4, 3.5], True),
        ("asInt(result) == 200", "200", True),
        ("asFloat(result) > 0.5", "0.75", True),
        ("isNil(result) || default(result, 0) > 10", None, True),
        ("default(result, 0) + 1", None, 1),
        ("result", None, None),
    ],
)
def test_conditions_evaluate_like_argo_users_expect(text: str, result: Any, expected: Any) -> None:
    value = _value(text, result)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "result", "expected"),
    [
        ("result > 1 && result < 3", 2, True),
        ("result < 1 || result > 3", 2, False),
        ("!(result > 1)", 2, False),
        ("!result", [], True),
        ("!!result", [], False),
        ("result != 2", 2, False),
        ("result!=2", 3, True),
        ("! isNaN(result)&&result>0", 1.0, True),
        ('result == "a&&b"', "a&&b", True),
        ("result == 'x||!y'", "x||!y", True),
        ('"!" + result', "ok", "!ok"),
        ("result\n  && true\n", True, True),
        ("  result || false  ", False, False),
    ],
)
def test_expr_lang_operators_are_translated_outside_string_literals(
    text: str, result: Any, expected: Any
) -> None:
    assert _value(text, result) == expected


def test_a_translated_operator_keeps_positions_in_the_text_as_written() -> None:
    error = _refused("result > 0 && !nope")
    assert error.position == 15
    assert 'unknown name "nope"' in error.reason


def test_boolean_operators_return_an_operand_as_python_does() -> None:
    assert _value("result or 5", 0) == 5
    assert _value("result && 5", 0) == 0
    assert _value("true and false or nil", None) is None


@pytest.mark.parametrize(
    ("text", "result", "expected"),
    [
        ("0.9 < result <= 1", 1, True),
        ("0.9 < result <= 1", 1.1, False),
        ("0 < result[0] < result[1] < 10", [1, 5], True),
        ("0 < result[0] < result[1] < 10", [5, 1], False),
        ('"a" in result', ["a", "b"], True),
        ('"x" not in result', {"x": 1}, False),
        ('"ell" in result', "hello", True),
        ("result is nil", None, True),
        ("result is not None", 0, True),
        ("result == [1, 2]", [1, 2], True),
        ("result == (1, 2)", [1, 2], False),
    ],
)
def test_comparisons_chain_and_test_membership(text: str, result: Any, expected: bool) -> None:
    assert _value(text, result) is expected


@pytest.mark.parametrize(
    ("text", "result", "expected"),
    [
        ("[r * 2 for r in result if r > 1]", [1, 2, 3], [4, 6]),
        ("[a + b for a, b in result]", [[1, 2], [3, 4]], [3, 7]),
        ("[(x, y) for x in result for y in result if x < y]", [1, 2, 3], [(1, 2), (1, 3), (2, 3)]),
        ("len([k for k in result if result[k] > 1])", {"a": 1, "b": 2, "c": 3}, 2),
        ("sum(1 for c in result if c == 'l')", "hello", 2),
        ("any(isNaN(r) for r in result)", [1.0, NAN], True),
        ("[r for r in result][1:]", (1, 2, 3), [2, 3]),
        ("result[::-1]", [1, 2, 3], [3, 2, 1]),
        ("result[-1]", "abc", "c"),
        ("'high' if result > 10 else 'low'", 11, "high"),
        ("-result + +2", 3, -1),
        ("result ** 2 + result // 2 + result % 2", 5, 25 + 2 + 1),
        ("round(result, 2)", 3.14159, 3.14),
        ("round(result)", 2.5, 2),
        ("abs(result)", -3, 3),
        ("int(result) + float('1.5')", 2.9, 3.5),
        ("min(3, result, 5)", 4, 3),
        ("len(result)", {"a": 1}, 1),
        ("[1, 2] * 2 + [3]", None, [1, 2, 1, 2, 3]),
        ("'ab' * 2", None, "abab"),
        ("isInf(result)", -INF, True),
        ("isInf(result)", 10**400, False),
        ("result.missing", {"present": 1}, None),
        ('result["missing"]', {}, None),
    ],
)
def test_comprehensions_indexing_and_functions(text: str, result: Any, expected: Any) -> None:
    assert _value(text, result) == expected


def test_isnan_takes_one_number_and_points_lists_to_any() -> None:
    assert _value("isNaN(result)", 1) is False
    error = _fails("isNaN(result)", [NAN])
    assert "isNaN() needs a number, not list [nan]" in error.reason
    assert "any(isNaN(r) for r in result)" in error.reason
    assert "needs a number" in _fails("isInf(result)", "inf").reason


def test_evaluate_bool_requires_true_or_false() -> None:
    assert expressions.parse("result > 1").evaluate_bool(2) is True
    assert expressions.parse("result > 1").evaluate_bool(1) is False
    expression = expressions.parse("result[0]")
    with pytest.raises(ExpressionError, match=r"must give true or false, not float 0\.5"):
        expression.evaluate_bool([0.5])
    with pytest.raises(ExpressionError, match="must give true or false, not nil"):
        expressions.parse("result").evaluate_bool(None)


def test_an_expression_is_a_frozen_value_named_by_its_text() -> None:
    first = expressions.parse("result > 1")
    assert first == expressions.parse("result > 1")
    assert first != expressions.parse("result > 2")
    assert "result > 1" in repr(first)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.text = "true"  # type: ignore[misc]
    assert first.evaluate(2) is True and first.evaluate(0) is False  # reusable


# --------------------------------------------------------------------------- refused by parse()


ALLOWED = "allowed: len, all, any, min, max, sum, abs, round, float, int, asFloat, asInt"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("__import__('os')", f"calling __import__ is not allowed ({ALLOWED}"),
        ("open('/etc/passwd')", "calling open is not allowed"),
        ("eval('1')", "calling eval is not allowed"),
        ("exec('x = 1')", "calling exec is not allowed"),
        ("getattr(result, 'x')", "calling getattr is not allowed"),
        ("compile('1', '', 'eval')", "calling compile is not allowed"),
        ("result.get('status')", "calling result.get is not allowed (only len, all"),
        ("'{}'.format(result)", "calling '{}'.format is not allowed"),
        ("result.__class__", 'attribute "__class__" is not allowed'),
        ("().__class__", 'attribute "__class__" is not allowed'),
        ("result._private", 'attribute "_private" is not allowed'),
        (
            "().__class__.__bases__[0].__subclasses__()",
            "calling ().__class__.__bases__[0].__subclasses__ is not allowed",
        ),
        ("[c for c in ().__class__.__mro__]", 'attribute "__mro__" is not allowed'),
        ("import os", "invalid syntax at position 0"),
        ("lambda: 1", "lambda is not allowed"),
        ("(lambda x: x)(result)", "calling lambda x: x is not allowed"),
        ("(x := result) > 1", "assignment (:=) is not allowed"),
        ("f'{result}' == 'a'", "an f-string is not allowed"),
        ("{'a': 1}", "a map literal is not allowed"),
        ("{1, 2}", "a set literal is not allowed"),
        ("{x for x in result}", "a set comprehension is not allowed"),
        ("[*result]", "unpacking (*) is not allowed"),
        ("b'x' == result", "a bytes literal is not allowed"),
        ("1j", "a complex literal is not allowed"),
        ("result[1:2, 3]", "a slice (a:b) anywhere but directly in [...] is not allowed"),
        ("result & 1", "operator & is not allowed (use && or and)"),
        ("result | 1", "operator | is not allowed (use || or or)"),
        ("~result", "operator ~ is not allowed"),
        ("result << 2", "operator << is not allowed"),
        ("result @ result", "operator @ is not allowed"),
        ("os.system('x')", "calling os.system is not allowed"),
        ("os", 'unknown name "os" (known: result, true, false, nil)'),
        ("__builtins__", 'unknown name "__builtins__"'),
        ("len", "len is a function: call it, as in len(...)"),
        ("len(result, 2)", "len() takes 1 argument, got 2"),
        ("round()", "round() takes 1 or 2 arguments, got 0"),
        ("max()", "max() takes 1 or more arguments, got 0"),
        ("min(result, key=abs)", "min() takes no keyword arguments"),
        ("[1 for a in result for b in result for c in result]", "at most 2 'for' clauses"),
        ("[1 for result in [1]]", "\"result\" cannot be a 'for' variable"),
        ("[1 for len in [1]]", "\"len\" cannot be a 'for' variable"),
        ("[1 for __x in [1]]", "\"__x\" cannot be a 'for' variable"),
        ("[1 for x.y in [1]]", "a 'for' variable must be a name"),
        ("[x for x in result] and x", 'unknown name "x"'),
        ("9**9**9", "exponent int 387420489 is too large (at most 100)"),
        ("result ** 1000", "exponent int 1000 is too large (at most 100)"),
        ("result ** -101.5", "exponent float -101.5 is too large (at most 100)"),
        ("(10**100)**50", "number too large (more than 4096 bits)"),
        ("'a' * 10**9", "would build a string or list of 1000000000 items (at most 100000)"),
        ("[0] * 100001 == result", "would build a string or list of 100001 items"),
        ("result > 1 and 1/0", 'division by zero, in "1/0"'),
        ("result > 1 and [][0]", "index 0 is out of range"),
        ("result[1:x]", 'unknown name "x"'),
        ("len(result) >", "unexpected end of expression"),
        ("result &&", "unexpected end of expression"),
        ("len(result", "'(' was never closed at position 3"),
        ("result ? 1 : 0", 'invalid syntax at position 7: "? 1 : 0"'),
        ("result = 1", "invalid syntax"),
        ("result > 1; 2", "invalid syntax"),
        ("'abc", "unterminated string literal"),
        ("", "the condition is empty"),
        ("  \n ", "the condition is empty"),
        ("result\x00", "cannot contain null bytes"),
    ],
)
def test_parse_refuses_with_a_readable_reason(text: str, reason: str) -> None:
    error = _refused(text)
    assert reason in error.reason
    assert not error.evaluating


def test_a_refused_part_is_quoted_with_its_position() -> None:
    error = _refused("len(result) > 0 && open('x')")
    assert error.position == 19
    assert error.reason.endswith(": \"open('x')\" at position 19")
    assert _refused("lambda: 1").position is None  # the whole condition: nothing to point at


def test_too_long_too_deep_and_too_complex_are_refused() -> None:
    long = "result + " * 112 + "1"
    assert len(long) > expressions.MAX_LENGTH
    error = _refused(long)
    assert error.reason == f"too long ({len(long)} characters, at most 1000)"
    assert str(error).endswith('...": ' + error.reason)  # the text is cut in the message
    assert "nested too deeply" in _refused("-" * 60 + "result").reason
    assert "nested too deeply" in _refused("[" * 60 + "result" + "]" * 60).reason
    assert "nested too deeply" in _refused("not " * 200 + "result").reason
    assert "nested too deeply" in _refused("-" * 990 + "1").reason  # deeper than Python's stack
    wide = "[" + ",".join(["1"] * expressions.MAX_NODES) + "]"
    assert len(wide) <= expressions.MAX_LENGTH
    assert "too complex (more than 400 parts)" in _refused(wide).reason
    assert "too many nested parentheses" in _refused("(" * 210 + "1" + ")" * 210).reason


def test_a_condition_must_be_a_string() -> None:
    with pytest.raises(ExpressionError, match="a condition must be a string, not int"):
        expressions.parse(5)  # type: ignore[arg-type]


def test_errors_are_value_errors_and_survive_pickling() -> None:
    error = _refused("result.__class__")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.text, copy.reason, copy.position) == (
        str(error),
        error.text,
        error.reason,
        error.position,
    )


# --------------------------------------------------------------------------- refused by evaluate()


@pytest.mark.parametrize(
    ("text", "result", "reason"),
    [
        ("result[5]", [1, 2], "index 5 is out of range (list of 2)"),
        ("result[0] >= 0.99", 0.5, 'cannot index float 0.5 with [0], in "result[0]"'),
        ("result['a']", [1], "an index must be a whole number, not string 'a'"),
        ("result.status", [1], ".status needs a map, not list [1]"),
        ("result > 0.5", "high", "cannot compare string 'high' > float 0.5"),
        ("result > 0.5", None, "cannot compare nil > float 0.5"),
        ("result + 1", "a", "cannot apply + to string 'a' and int 1"),
        ("result % 2", "%s", "cannot apply % to string '%s' and int 2"),
        ("-result", "a", "cannot apply unary - to string 'a'"),
        ("1 / result", 0, "division by zero"),
        ("result // 0.0", 1, "division by zero"),
        ("len(result)", 3, "len() needs a list, string or map, not int 3"),
        ("[r for r in result]", 3, "'for' needs a list, string or map, not int 3"),
        ("[a for a, b in result]", [[1, 2, 3]], "cannot unpack list [1, 2, 3] into 2 names"),
        ("sum(result)", [1, "2"], "sum() needs a number, not string '2'"),
        ("max(result)", [], "max() of an empty list"),
        ("min(result)", [1, "a"], "min() cannot compare int and string"),
        ("'x' in result", 5, "'in' needs a list, string or map, not int 5"),
        ("1 in result", "abc", "'in' a string needs a string, not int 1"),
        ("asInt(result)", "1.5", "not a whole number: string '1.5'"),
        ("asInt(result)", "9" * 101, "not a number: a string of 101 characters"),
        ("asFloat(result)", "fast", "not a number: string 'fast'"),
        ("int(result)", NAN, "cannot make a whole number of float nan"),
        ("round(result)", INF, "cannot round float inf"),
        ("round(1.5, result)", 10**6, "round() digits must be a whole number up to 100"),
        ("result ** result", 1000, "exponent int 1000 is too large (at most 100)"),
        ("result ** 100", 2**100, "number too large (more than 4096 bits)"),
        ("result ** 0.5", -4, "the result would be a complex number"),
        ("result ** 100", 1e300, "number too large"),
        ("result * result", 2**3000, "number too large (more than 4096 bits)"),
        ("float(result)", 10**1000, "number too large for a float"),
        ("'a' * result", 10**9, "would build a string or list of 1000000000 items"),
        ("result + result", "a" * 60_000, "would build a string or list of 120000 items"),
        ("result * 3", [1] * 40_000, "would build a string or list of 120000 items"),
        ("result[::0]", [1], "slice step cannot be zero"),
    ],
)
def test_evaluate_reports_runtime_errors_readably(text: str, result: Any, reason: str) -> None:
    assert reason in _fails(text, result).reason


def test_a_runtime_error_points_at_the_part_that_failed() -> None:
    error = _fails("len(result) > 0 && result[3] > 1", [1])
    assert error.position == 19
    assert error.reason == 'index 3 is out of range (list of 1), in "result[3]"'


def test_work_and_size_are_bounded() -> None:
    grid = list(range(2000))  # 4 million pairs
    assert (
        "would build a list of more than 100000"
        in _fails("[1 for a in result for b in result]", grid).reason
    )
    assert "too much work" in _fails("[1 for a in result for b in result if a < 0]", grid).reason
    assert "too much work" in _fails("[sum(result) for r in result]", grid).reason
    assert "too much work" in _fails("[r * 90000 for r in result]", ["a"] * 20).reason
    left: list[Any] = []
    right: list[Any] = []
    for _ in range(5000):
        left, right = [left], [right]
    assert "nested too deeply" in _fails("result[0] == result[1]", [left, right]).reason
    big = [0.1] * 100_000  # a large but honest vector still evaluates
    assert _value("sum(result) / len(result) < 0.5 and max(result) < 1", big) is True


# --------------------------------------------------------------------------- never code


def test_neither_parse_nor_evaluate_compiles_or_evals(monkeypatch: pytest.MonkeyPatch) -> None:
    real_compile = builtins.compile

    def only_ast(source: Any, filename: Any, mode: str, flags: int = 0, **kwargs: Any) -> Any:
        assert flags & ast.PyCF_ONLY_AST, "compiled to code"
        return real_compile(source, filename, mode, flags, **kwargs)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("eval or exec called")

    monkeypatch.setattr(builtins, "compile", only_ast)
    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    expression = expressions.parse("all(r < 0.5 for r in result) && !isNaN(result[0]) || nil")
    assert expression.evaluate([0.1, 0.2]) is True
    assert _value("[x ** 2 for x in result][-1] == 9", [1, 3]) is True


# --------------------------------------------------------------------------- random inputs

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
