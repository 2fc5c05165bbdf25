"""What ``parse()`` refuses (``shared.analysis.expressions``), with its message and position.

Covered: every class of refused input (dunder attributes, imports, lambdas, walrus, f-strings,
method calls, calls of anything not whitelisted, unknown names, wrong arities, huge powers and
repetitions, constant parts that fail, syntax errors); the refused part quoted with its
position; too long, too deep and too complex; a condition must be a string; errors are
ValueErrors that survive pickling.
"""

from __future__ import annotations

import pickle

import pytest

from shared.analysis import expressions
from shared.analysis.expressions import ExpressionError
from tests.shared.analysis.expressions.conftest import refused

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
    error = refused(text)
    assert reason in error.reason
    assert not error.evaluating


def test_a_refused_part_is_quoted_with_its_position() -> None:
    error = refused("len(result) > 0 && open('x')")
    assert error.position == 19
    assert error.reason.endswith(": \"open('x')\" at position 19")
    assert refused("lambda: 1").position is None  # the whole condition: nothing to point at


def test_too_long_too_deep_and_too_complex_are_refused() -> None:
    long = "result + " * 112 + "1"
    assert len(long) > expressions.MAX_LENGTH
    error = refused(long)
    assert error.reason == f"too long ({len(long)} characters, at most 1000)"
    assert str(error).endswith('...": ' + error.reason)  # the text is cut in the message
    assert "nested too deeply" in refused("-" * 60 + "result").reason
    assert "nested too deeply" in refused("[" * 60 + "result" + "]" * 60).reason
    assert "nested too deeply" in refused("not " * 200 + "result").reason
    assert "nested too deeply" in refused("-" * 990 + "1").reason  # deeper than Python's stack
    wide = "[" + ",".join(["1"] * expressions.MAX_NODES) + "]"
    assert len(wide) <= expressions.MAX_LENGTH
    assert "too complex (more than 400 parts)" in refused(wide).reason
    assert "too many nested parentheses" in refused("(" * 210 + "1" + ")" * 210).reason


def test_a_condition_must_be_a_string() -> None:
    with pytest.raises(ExpressionError, match="a condition must be a string, not int"):
        expressions.parse(5)  # type: ignore[arg-type]


def test_errors_are_value_errors_and_survive_pickling() -> None:
    error = refused("result.__class__")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.text, copy.reason, copy.position) == (
        str(error),
        error.text,
        error.reason,
        error.position,
    )
