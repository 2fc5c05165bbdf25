"""What conditions give, and what ``evaluate()`` refuses (``shared.analysis.expressions``).

Covered: the Argo-style examples on scalar, vector and map results; the expr-lang operators
``&& || !`` (translated on tokens, so string literals and ``!=`` stay intact, positions kept);
boolean operators returning an operand; chained comparisons and membership; comprehensions, map
keys, slicing and the functions, with the isNaN/isInf semantics; ``evaluate_bool``; an expression
is a frozen value; runtime errors and where they point (index, types, division, sizes) and the
bounds on work and size; that neither parse() nor evaluate() ever compiles or evals anything.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
from typing import Any

import pytest

from shared.analysis import expressions
from shared.analysis.expressions import ExpressionError
from tests.shared.analysis.expressions.conftest import INF, NAN, evaluate, fails, refused

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
    value = evaluate(text, result)
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
    assert evaluate(text, result) == expected


def test_a_translated_operator_keeps_positions_in_the_text_as_written() -> None:
    error = refused("result > 0 && !nope")
    assert error.position == 15
    assert 'unknown name "nope"' in error.reason


def test_boolean_operators_return_an_operand_as_python_does() -> None:
    assert evaluate("result or 5", 0) == 5
    assert evaluate("result && 5", 0) == 0
    assert evaluate("true and false or nil", None) is None


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
    assert evaluate(text, result) is expected


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
    assert evaluate(text, result) == expected


def test_isnan_takes_one_number_and_points_lists_to_any() -> None:
    assert evaluate("isNaN(result)", 1) is False
    error = fails("isNaN(result)", [NAN])
    assert "isNaN() needs a number, not list [nan]" in error.reason
    assert "any(isNaN(r) for r in result)" in error.reason
    assert "needs a number" in fails("isInf(result)", "inf").reason


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
    assert reason in fails(text, result).reason


def test_a_runtime_error_points_at_the_part_that_failed() -> None:
    error = fails("len(result) > 0 && result[3] > 1", [1])
    assert error.position == 19
    assert error.reason == 'index 3 is out of range (list of 1), in "result[3]"'


def test_work_and_size_are_bounded() -> None:
    grid = list(range(2000))  # 4 million pairs
    assert (
        "would build a list of more than 100000"
        in fails("[1 for a in result for b in result]", grid).reason
    )
    assert "too much work" in fails("[1 for a in result for b in result if a < 0]", grid).reason
    assert "too much work" in fails("[sum(result) for r in result]", grid).reason
    assert "too much work" in fails("[r * 90000 for r in result]", ["a"] * 20).reason
    left: list[Any] = []
    right: list[Any] = []
    for _ in range(5000):
        left, right = [left], [right]
    assert "nested too deeply" in fails("result[0] == result[1]", [left, right]).reason
    big = [0.1] * 100_000  # a large but honest vector still evaluates
    assert evaluate("sum(result) / len(result) < 0.5 and max(result) < 1", big) is True


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
    assert evaluate("[x ** 2 for x in result][-1] == 9", [1, 3]) is True
