"""CEL for admission policies: compiling and evaluating expressions with ``cel-python``.

An expression is parsed once (:func:`compile_expression`); like kube-apiserver's compiler it is
refused when it is not CEL or when it names a variable or function the environment does not
declare (``undeclared reference to 'x'``), in cel-go's ``ERROR: <input>:line:col: ...`` format.
Evaluation errors are worded as cel-go words them (``no such key: x``, ``no such overload``).
The environment has CEL's standard functions and macros plus the Kubernetes library functions
of :mod:`~shared.cel.library`. Knows nothing of policies; no state but the parser.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, base_functions

from shared.cel.library import FUNCTIONS

# celpy logs every activation at DEBUG, the objects of an admission request included (a
# Secret's data); a kube-apiserver never logs what it evaluates a policy on.
logging.getLogger("celpy").setLevel(logging.INFO)

MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
GLOBAL_MACROS = frozenset({"has"})
TYPE_NAMES = frozenset(
    {
        "bool",
        "bytes",
        "double",
        "duration",
        "int",
        "list",
        "map",
        "null_type",
        "string",
        "timestamp",
        "type",
        "uint",
        "dyn",
    }
)


class CompileError(Exception):
    """An expression that does not compile; the message is cel-go's issue text."""


class EvalError(Exception):
    """An expression that failed at run time; the message is cel-go's wording."""


_environment: celpy.Environment | None = None
_environment_lock = threading.Lock()


def _env() -> celpy.Environment:
    global _environment
    with _environment_lock:
        if _environment is None:
            _environment = celpy.Environment()
        return _environment


class Program:
    """A compiled expression, ready to evaluate against an activation."""

    def __init__(self, text: str, ast: lark.Tree[Any]) -> None:
        self.text = text
        self._runner = _env().program(ast, functions=dict(FUNCTIONS))

    def evaluate(self, activation: Mapping[str, Any]) -> Any:
        """The expression's value (a ``celpy.celtypes`` value or None); :class:`EvalError`."""
        try:
            result = self._runner.evaluate(dict(activation))
        except CELEvalError as exc:
            raise EvalError(message(exc)) from None
        if isinstance(result, CELEvalError):
            raise EvalError(message(result))
        return result


def compile_expression(text: str, declared: Iterable[str]) -> Program:
    """Parse ``text``; :class:`CompileError` when it is no CEL or names something undeclared."""
    try:
        ast = _env().compile(text)
    except CELParseError as exc:
        line, column = exc.line or 1, exc.column or 1
        source = text.splitlines()[line - 1] if text.splitlines() else ""
        found = source[column - 1 :].split()[0] if source[column - 1 :].strip() else "<EOF>"
        raise CompileError(
            f"ERROR: <input>:{line}:{column}: Syntax error: mismatched input '{found}'"
            + _snippet(source, column)
        ) from None
    _check_references(text, ast, set(declared))
    return Program(text, ast)


def _snippet(source: str, column: int) -> str:
    return f"\n | {source}\n | {'.' * (column - 1)}^"


def _check_references(text: str, ast: lark.Tree[Any], declared: set[str]) -> None:
    bound = set(TYPE_NAMES)
    for node in ast.iter_subtrees():
        if node.data == "member_dot_arg" and str(node.children[1]) in MACROS:
            args = node.children[2] if len(node.children) > 2 else None
            first = args.children[0] if isinstance(args, lark.Tree) and args.children else None
            name = _bare_ident(first)
            if name is not None:
                bound.add(name)
    known = set(base_functions) | set(FUNCTIONS) | MACROS | GLOBAL_MACROS
    for node in ast.iter_subtrees():
        token: Any = None
        if node.data == "ident" and node.children:
            token = node.children[0]
            allowed = declared | bound
        elif node.data == "member_dot_arg":
            token = node.children[1]
            allowed = known
        elif node.data == "ident_arg" and node.children:
            token = node.children[0]
            allowed = known
        if isinstance(token, lark.Token) and str(token) not in allowed:
            line, column = token.line or 1, token.column or 1
            source = text.splitlines()[line - 1]
            raise CompileError(
                f"ERROR: <input>:{line}:{column}: undeclared reference to '{token}' "
                f"(in container '')" + _snippet(source, column)
            )


def _bare_ident(expr: Any) -> str | None:
    """The identifier an expression consists of, if it is nothing but one."""
    while isinstance(expr, lark.Tree) and len(expr.children) == 1:
        if expr.data == "ident":
            return str(expr.children[0])
        expr = expr.children[0]
    return None


_NO_KEY = re.compile(r"^no such member in mapping: '(.*)'$")


def message(error: CELEvalError) -> str:
    """cel-go's wording of a celpy evaluation error."""
    text = str(error.args[0]) if error.args else "evaluation error"
    found = _NO_KEY.match(text)
    if found:
        return f"no such key: {found.group(1)}"
    if text == "no such key" and len(error.args) > 2 and error.args[2]:
        return f"no such key: {error.args[2][0]}"
    if text.startswith("found no matching overload") or "does not support field selection" in text:
        return "no such overload"
    if text.startswith("undeclared reference to"):
        return text.split(" (in activation", 1)[0]
    if text == "modulus or divide by zero":
        return "division by zero"
    return text


def to_cel(value: Any) -> Any:
    """A JSON value as CEL sees it."""
    return json_to_cel(value)


class LazyMap(celtypes.MapType):
    """``variables``: each entry is computed the first time it is read, errors included."""

    def __init__(self, thunks: Mapping[str, Callable[[], Any]]) -> None:
        super().__init__({})
        self._thunks = dict(thunks)
        self._values: dict[str, Any] = {}

    def __getitem__(self, key: Any) -> Any:
        name = str(key)
        if name not in self._values:
            if name not in self._thunks:
                return CELEvalError(f"no such member in mapping: '{name}'", KeyError, None)
            self._values[name] = self._thunks[name]()
        return self._values[name]

    def __contains__(self, key: object) -> bool:
        return str(key) in self._thunks
