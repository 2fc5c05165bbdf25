"""One ValidatingAdmissionPolicy compiled, and its verdicts on a request.

:class:`CompiledPolicy` compiles a policy's ``matchConditions``, ``variables`` and
``validations`` once; :meth:`CompiledPolicy.decide` evaluates them against a request's CEL
activation as kube-apiserver's validator does: a false match condition skips the policy; an
expression that fails to compile or to evaluate is an error decision that ``failurePolicy``
turns into a denial (``Fail``, the default) or an admission (``Ignore``); a validation not
``true`` denies with its ``reason`` (``Invalid`` by default) and the message of its
``messageExpression``, else its ``message``, else ``failed expression: <expression>``.
``variables`` are evaluated lazily, on first use. Holds compiled programs only; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError

from local.sim.objects import Obj
from shared.cel import (
    CompileError,
    EvalError,
    LazyMap,
    Program,
    compile_expression,
)

DECLARED = (
    "object",
    "oldObject",
    "request",
    "params",
    "namespaceObject",
    "variables",
    "authorizer",
)
"""The variables a policy's expressions may name."""


@dataclass(frozen=True)
class Decision:
    """A validation's verdict: deny or admit, with the denial's message and status reason."""

    deny: bool
    message: str = ""
    reason: str = ""
    index: int = 0


class _Expression:
    """An expression compiled, or the compile error it has (reported when evaluated)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.program: Program | None = None
        self.error = ""
        try:
            self.program = compile_expression(text, DECLARED)
        except CompileError as exc:
            self.error = f"compilation failed: {exc}"

    def evaluate(self, activation: Mapping[str, Any], *, quoted: bool = True) -> Any:
        """The value; :class:`EvalError` says ``expression '<text>' resulted in error: ...``
        (or only what went wrong, unless ``quoted``)."""
        if self.program is None:
            raise EvalError(self.error)
        try:
            return self.program.evaluate(activation)
        except EvalError as exc:
            if not quoted:
                raise
            raise EvalError(f"expression '{self.text}' resulted in error: {exc}") from None


def compile_errors(spec: Obj) -> list[tuple[str, str, str]]:
    """``(field, expression, error)`` for each expression of a policy spec that does not
    compile, as the API server reports them when the policy is written."""
    found = []
    for section, key in (
        ("matchConditions", "expression"),
        ("variables", "expression"),
        ("validations", "expression"),
        ("validations", "messageExpression"),
        ("auditAnnotations", "valueExpression"),
    ):
        for i, item in enumerate(spec.get(section) or ()):
            text = (item or {}).get(key)
            if isinstance(text, str) and text.strip():
                expression = _Expression(text)
                if expression.error:
                    found.append((f"spec.{section}[{i}].{key}", text, expression.error))
    return found


def _aggregate(messages: list[str]) -> str:
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


class CompiledPolicy:
    """A policy's expressions, compiled."""

    def __init__(self, policy: Obj) -> None:
        spec = policy.get("spec") or {}
        self.name = policy["metadata"]["name"]
        self.spec = spec
        self.fail = (spec.get("failurePolicy") or "Fail") != "Ignore"
        self.conditions = [
            (str(c.get("name", "")), _Expression(str(c.get("expression", ""))))
            for c in spec.get("matchConditions") or ()
        ]
        self.variables = [
            (str(v.get("name", "")), _Expression(str(v.get("expression", ""))))
            for v in spec.get("variables") or ()
        ]
        self.validations = [
            (
                v,
                _Expression(str(v.get("expression", ""))),
                _Expression(v["messageExpression"]) if v.get("messageExpression") else None,
            )
            for v in spec.get("validations") or ()
        ]

    def _error(self, message: str, index: int = 0) -> list[Decision]:
        return [Decision(True, message, "", index)] if self.fail else []

    def decide(self, activation: dict[str, Any]) -> list[Decision]:
        """The denials (and error decisions the failure policy makes denials) for a request;
        empty when the request is admitted."""
        if self.spec.get("paramKind"):
            return self._error(
                "failed to configure policy: paramKind is not supported by the simulator"
            )
        scope = dict(activation)
        scope["variables"] = LazyMap(
            {name: self._lazy(name, expression, scope) for name, expression in self.variables}
        )
        errors_met: list[str] = []
        for _, condition in self.conditions:
            try:
                result = condition.evaluate(scope)
            except EvalError as exc:
                errors_met.append(str(exc))
                continue
            if isinstance(result, celtypes.BoolType) and not result:
                return []
        if errors_met:
            return self._error(_aggregate(errors_met))
        decisions: list[Decision] = []
        for index, (validation, expression, message_expression) in enumerate(self.validations):
            try:
                result = expression.evaluate(scope)
            except EvalError as exc:
                decisions.extend(self._error(str(exc), index))
                continue
            if isinstance(result, celtypes.BoolType) and bool(result):
                continue
            message = self._message(message_expression, scope)
            message = message or str(validation.get("message") or "").strip()
            message = message or f"failed expression: {expression.text.strip()}"
            reason = str(validation.get("reason") or "Invalid")
            decisions.append(Decision(True, message, reason, index))
        return decisions

    @staticmethod
    def _message(expression: _Expression | None, scope: Mapping[str, Any]) -> str:
        if expression is None:
            return ""
        try:
            value = expression.evaluate(scope)
        except EvalError:
            return ""
        if not isinstance(value, str):
            return ""
        text = value.strip()
        return "" if "\n" in text or len(text) > 5000 else text

    @staticmethod
    def _lazy(name: str, expression: _Expression, scope: Mapping[str, Any]) -> Any:
        def value() -> Any:
            try:
                return expression.evaluate(scope, quoted=False)
            except EvalError as exc:
                why = f'composited variable "{name}" fails to be evaluated: {exc}'
                return CELEvalError(why, ValueError, None)

        return value
