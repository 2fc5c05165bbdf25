"""Metric conditions: a ``successCondition`` / ``failureCondition`` checked once, then evaluated.

Users write conditions over a measurement's ``result`` in Python expression syntax, plus what
Argo Rollouts users bring along: the expr-lang operators ``&&``, ``||`` and ``!``, the names
``true`` / ``false`` / ``nil`` and the functions ``isNaN``, ``isInf``, ``isNil``, ``default``,
``asInt`` and ``asFloat``. :func:`parse` checks a condition when the template is read and refuses
anything outside a small whitelist with a readable :class:`ExpressionError`;
:meth:`Expression.evaluate` then interprets the checked tree against one result, within fixed
bounds on work and on the size of every number, string and list it builds.

What is allowed (everything else is refused by :func:`parse`):

- literals: numbers, strings, ``true``/``false``/``nil`` (or ``True``/``False``/``None``),
  lists ``[...]`` and tuples ``(...)``; the name ``result``;
- ``and or not`` (or ``&& || !``), ``+ - * / // % **``, unary ``- +``, comparisons
  ``== != < <= > >= in not in is is not`` (chained too), ``a if cond else b``;
- ``x[i]``, ``x[a:b:c]``, ``x["key"]`` and ``x.key`` (a key of a map; a missing key is ``nil``,
  as in expr-lang; keys starting with ``_`` are refused);
- ``[e for v in xs if c]`` and ``(e for v in xs)``, with at most two ``for`` clauses (a
  generator is built in full, like a list: ``any(...)`` does not stop early);
- calls of :data:`FUNCTIONS`, positional arguments only.

``isNaN(x)`` / ``isInf(x)`` take one number, as Argo's do: on a list they raise an error that
suggests ``any(isNaN(r) for r in result)``. ``isNil(x)`` and ``default(x, d)`` look at their
argument (Argo's look at ``result`` whatever the argument; for ``isNil(result)`` and
``default(result, d)`` the two agree).

Never compiles, evals or execs user text: Python's ``ast`` module is only the parser, and this
package walks the tree itself. No I/O, and no attribute lookup on Python objects: ``x.key``
reads a map and nothing else.

The language is split by stage: :mod:`.source` (the text: translation, positions), :mod:`.checker`
(what :func:`parse` refuses), :mod:`.interpreter` (evaluation within :mod:`.limits`),
:mod:`.functions` (what a condition may call) and :mod:`.values` (kinds, descriptions, size
checks); :mod:`.errors` holds the exception. Callers use only what this module exports.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from shared.analysis.expressions import checker
from shared.analysis.expressions.errors import ExpressionError, Failure
from shared.analysis.expressions.functions import FUNCTIONS
from shared.analysis.expressions.interpreter import Interpreter
from shared.analysis.expressions.limits import (
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_FOR_CLAUSES,
    MAX_INT_BITS,
    MAX_LENGTH,
    MAX_NODES,
    MAX_NUMBER_TEXT,
    MAX_SIZE,
    MAX_STEPS,
)
from shared.analysis.expressions.source import ALIASES, Source, runtime_error, translate
from shared.analysis.expressions.values import describe, kind

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_FOR_CLAUSES",
    "MAX_INT_BITS",
    "MAX_LENGTH",
    "MAX_NODES",
    "MAX_NUMBER_TEXT",
    "MAX_SIZE",
    "MAX_STEPS",
    "Expression",
    "ExpressionError",
    "parse",
]


@dataclass(frozen=True)
class Expression:
    """A checked condition. Build it with :func:`parse`; evaluate it as often as needed."""

    text: str
    tree: ast.Expression = field(repr=False, compare=False)
    _source: Source = field(repr=False, compare=False)

    def evaluate(self, result: Any) -> Any:
        """The condition's value for ``result`` (plain data: numbers, strings, lists, maps).

        Raises :class:`ExpressionError` for anything that goes wrong: an index out of range,
        operands of the wrong type, division by zero, a bound exceeded.
        """
        env = {"result": result, **ALIASES}
        interpreter = Interpreter()
        try:
            return interpreter.run(self.tree.body, env)
        except Failure as failure:
            raise runtime_error(self._source, failure) from None
        except RecursionError:
            raise ExpressionError(
                self.text, "the result is nested too deeply", evaluating=True
            ) from None

    def evaluate_bool(self, result: Any) -> bool:
        """:meth:`evaluate`, which must give ``true`` or ``false`` (anything else is an error)."""
        value = self.evaluate(result)
        if not isinstance(value, bool):
            raise ExpressionError(
                self.text,
                f"the condition must give true or false, not {describe(value)}",
                evaluating=True,
            )
        return value


def parse(text: str) -> Expression:
    """Check ``text`` and return it as an :class:`Expression`, or raise :class:`ExpressionError`.

    Refused here, before any result exists: syntax errors, anything outside the whitelist in the
    module docstring (with the offending part and its position), a text longer than
    :data:`MAX_LENGTH`, a tree deeper than :data:`MAX_DEPTH` or larger than :data:`MAX_NODES`,
    and constant parts that cannot be evaluated (``9**9**9``, ``'a' * 10**9``, ``1/0``).
    """
    if not isinstance(text, str):
        raise ExpressionError(repr(text), f"a condition must be a string, not {kind(text)}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(text, f"too long ({len(text)} characters, at most {MAX_LENGTH})")
    if not text.strip():
        raise ExpressionError(text, "the condition is empty")
    source = translate(text)
    return Expression(text, checker.check(source), source)
