"""What goes wrong with a condition: the public :class:`ExpressionError`, and the internal
:class:`Failure` the interpreter raises before the condition's text is known.

Only the exception types: no parsing, no evaluation, no imports from the rest of the package.
"""

from __future__ import annotations

import ast
from typing import Any


class ExpressionError(ValueError):
    """A condition that cannot be parsed, is not allowed, or failed on one result.

    ``text`` is the condition, ``reason`` what is wrong, ``position`` the offset in ``text``
    of the part at fault (None when it is the whole or unknown), ``evaluating`` whether it
    came from :meth:`Expression.evaluate` (the condition was fine, the result did not fit).
    """

    def __init__(
        self, text: str, reason: str, *, position: int | None = None, evaluating: bool = False
    ) -> None:
        shown = text if len(text) <= 200 else text[:200] + "..."
        verb = "cannot evaluate" if evaluating else "invalid"
        super().__init__(f'{verb} condition "{shown}": {reason}')
        self.text = text
        self.reason = reason
        self.position = position
        self.evaluating = evaluating

    def __reduce__(self) -> tuple[Any, ...]:  # keyword-only arguments: pickle needs help
        return _rebuild_error, (self.text, self.reason, self.position, self.evaluating)


def _rebuild_error(
    text: str, reason: str, position: int | None, evaluating: bool
) -> ExpressionError:
    return ExpressionError(text, reason, position=position, evaluating=evaluating)


class Failure(Exception):
    """Raised inside the interpreter; becomes an ExpressionError with the condition's text."""

    def __init__(self, reason: str, node: ast.AST | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.node = node
