"""Helpers of the condition-language tests: evaluate a condition, or expect it refused by
``parse()`` or by ``evaluate()`` with the message shape each gives. Imported by the test modules.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.analysis import expressions
from shared.analysis.expressions import ExpressionError

NAN = float("nan")
INF = float("inf")


def evaluate(text: str, result: Any) -> Any:
    return expressions.parse(text).evaluate(result)


def refused(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        expressions.parse(text)
    assert str(caught.value).startswith(f'invalid condition "{text[:200]}')
    return caught.value


def fails(text: str, result: Any) -> ExpressionError:
    expression = expressions.parse(text)
    with pytest.raises(ExpressionError) as caught:
        expression.evaluate(result)
    assert str(caught.value).startswith(f'cannot evaluate condition "{text}": ')
    assert caught.value.evaluating
    return caught.value
