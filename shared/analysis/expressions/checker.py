"""The checker: what :func:`~shared.analysis.expressions.parse` refuses before any result exists.

:func:`check` parses the translated text with ``ast`` (the parser only: nothing is compiled),
bounds the tree's depth and size, walks it against the whitelist of node types, names, operators
and calls, and evaluates its constant parts once so ``9**9**9`` or ``1/0`` is refused now.
Every refusal is an :class:`~.errors.ExpressionError` pointing at the part at fault. It never
evaluates anything that reads ``result``.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence

from shared.analysis.expressions.errors import ExpressionError, Failure
from shared.analysis.expressions.functions import FUNCTIONS
from shared.analysis.expressions.interpreter import Interpreter
from shared.analysis.expressions.limits import MAX_DEPTH, MAX_FOR_CLAUSES, MAX_NODES
from shared.analysis.expressions.source import ALIASES, OPERATOR_SYMBOLS, Source, cut, runtime_error
from shared.analysis.expressions.values import check_exponent

_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_UNARY = (ast.Not, ast.UAdd, ast.USub)

_REFUSED_NAMES: Mapping[type[ast.AST], str] = {
    ast.Lambda: "lambda",
    ast.NamedExpr: "assignment (:=)",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.Dict: "a map literal",
    ast.Set: "a set literal",
    ast.DictComp: "a map comprehension",
    ast.SetComp: "a set comprehension",
    ast.Starred: "unpacking (*)",
    ast.Slice: "a slice (a:b) anywhere but directly in [...]",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


def check(source: Source) -> ast.Expression:
    """The tree of ``source``, checked; :class:`~.errors.ExpressionError` when it is refused."""
    tree = _parse_tree(source)
    _check_size(source, tree)
    _Checker(source).check(tree.body, frozenset())
    _fold(source, tree.body, Interpreter())
    return tree


def _parse_tree(source: Source) -> ast.Expression:
    text = source.original
    try:
        return ast.parse(source.translated, mode="eval")
    except SyntaxError as error:
        offset = error.offset or 0
        message = error.msg or "invalid syntax"
        if (error.lineno or 1) > 1 or offset <= 0 or offset > len(source.translated):
            if message == "invalid syntax" or "EOF" in message:
                raise ExpressionError(text, "unexpected end of expression") from None
            raise ExpressionError(text, message) from None
        position = source.origin[offset - 1]
        rest = cut(text[position:].strip(), 20)
        where = f': "{rest}"' if rest else ""
        raise ExpressionError(
            text, f"{message} at position {position}{where}", position=position
        ) from None
    except (ValueError, RecursionError, MemoryError):  # null bytes; nesting beyond the parser
        raise ExpressionError(text, "cannot be parsed (nested too deeply?)") from None


def _children(node: ast.AST) -> list[ast.AST]:
    return [c for c in ast.iter_child_nodes(node) if not isinstance(c, ast.expr_context)]


def _check_size(source: Source, tree: ast.Expression) -> None:
    """Depth and node count, without recursion (the tree may be deeper than Python's stack)."""
    count = 0
    pending: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while pending:
        node, depth = pending.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise ExpressionError(
                source.original, f"nested too deeply (more than {MAX_DEPTH} levels)"
            )
        if count > MAX_NODES:
            raise ExpressionError(source.original, f"too complex (more than {MAX_NODES} parts)")
        pending.extend((child, depth + 1) for child in _children(node))


class _Checker:
    """The whitelist: every node type that may appear, and what each may contain."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def refuse(self, node: ast.AST, reason: str) -> ExpressionError:
        _, position = self.source.fragment(node)
        return ExpressionError(
            self.source.original, reason + self.source.where(node), position=position
        )

    def check(self, node: ast.AST, scope: frozenset[str]) -> None:
        if isinstance(node, ast.Constant):
            if node.value is not None and not isinstance(node.value, (bool, int, float, str)):
                raise self.refuse(node, f"a {type(node.value).__name__} literal is not allowed")
        elif isinstance(node, ast.Name):
            self.check_name(node, scope)
        elif isinstance(node, ast.BoolOp):
            self.check_all(node.values, scope)
        elif isinstance(node, ast.UnaryOp):
            self.check_operator(node, node.op, _UNARY)
            self.check(node.operand, scope)
        elif isinstance(node, ast.BinOp):
            self.check_operator(node, node.op, _BINARY)
            self.check_all([node.left, node.right], scope)
        elif isinstance(node, ast.Compare):
            self.check_all([node.left, *node.comparators], scope)
        elif isinstance(node, ast.IfExp):
            self.check_all([node.test, node.body, node.orelse], scope)
        elif isinstance(node, ast.Subscript):
            self.check(node.value, scope)
            if isinstance(node.slice, ast.Slice):
                parts = (node.slice.lower, node.slice.upper, node.slice.step)
                self.check_all([p for p in parts if p is not None], scope)
            else:
                self.check(node.slice, scope)
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise self.refuse(
                    node,
                    f'attribute "{node.attr}" is not allowed '
                    '(x.key reads a key of a map; keys starting with "_" are refused)',
                )
            self.check(node.value, scope)
        elif isinstance(node, (ast.List, ast.Tuple)):
            self.check_all(node.elts, scope)
        elif isinstance(node, ast.Call):
            self.check_call(node, scope)
        elif isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            self.check_comprehension(node, scope)
        else:
            what = _REFUSED_NAMES.get(type(node), type(node).__name__)
            raise self.refuse(node, f"{what} is not allowed")

    def check_all(self, nodes: Sequence[ast.AST], scope: frozenset[str]) -> None:
        for node in nodes:
            self.check(node, scope)

    def check_name(self, node: ast.Name, scope: frozenset[str]) -> None:
        if node.id in scope or node.id == "result" or node.id in ALIASES:
            return
        if node.id in FUNCTIONS:
            raise self.refuse(node, f"{node.id} is a function: call it, as in {node.id}(...)")
        known = ", ".join(["result", *ALIASES, *sorted(scope)])
        raise self.refuse(node, f'unknown name "{node.id}" (known: {known})')

    def check_operator(
        self, node: ast.AST, op: ast.AST, allowed: tuple[type[ast.AST], ...]
    ) -> None:
        if not isinstance(op, allowed):
            symbol = OPERATOR_SYMBOLS.get(type(op), type(op).__name__)
            hint = (
                " (use && or and)" if symbol == "&" else " (use || or or)" if symbol == "|" else ""
            )
            raise self.refuse(node, f"operator {symbol} is not allowed{hint}")

    def check_call(self, node: ast.Call, scope: frozenset[str]) -> None:
        allowed = ", ".join(FUNCTIONS)
        if not isinstance(node.func, ast.Name):
            callee, _ = self.source.fragment(node.func)
            raise self.refuse(
                node, f"calling {cut(callee, 40)} is not allowed (only {allowed} can be called)"
            )
        name = node.func.id
        if name not in FUNCTIONS:
            raise self.refuse(node, f"calling {name} is not allowed (allowed: {allowed})")
        if node.keywords:
            raise self.refuse(node, f"{name}() takes no keyword arguments")
        function = FUNCTIONS[name]
        count = len(node.args)
        if not function.least <= count <= function.most:
            raise self.refuse(node, f"{name}() takes {function.arity()}, got {count}")
        self.check_all(node.args, scope)

    def check_comprehension(
        self, node: ast.ListComp | ast.GeneratorExp, scope: frozenset[str]
    ) -> None:
        if len(node.generators) > MAX_FOR_CLAUSES:
            raise self.refuse(node, f"at most {MAX_FOR_CLAUSES} 'for' clauses are allowed")
        inner = scope
        for clause in node.generators:
            if clause.is_async:
                raise self.refuse(node, "async comprehensions are not allowed")
            self.check(clause.iter, inner)
            inner = inner | self.bound_names(clause.target)
            self.check_all(clause.ifs, inner)
        self.check(node.elt, inner)

    def bound_names(self, target: ast.AST) -> frozenset[str]:
        names = target.elts if isinstance(target, ast.Tuple) else [target]
        bound: set[str] = set()
        for name in names:
            if not isinstance(name, ast.Name):
                raise self.refuse(target, "a 'for' variable must be a name or names: for x, y in")
            if name.id.startswith("_") or name.id in ("result", *ALIASES, *FUNCTIONS):
                raise self.refuse(name, f"\"{name.id}\" cannot be a 'for' variable")
            bound.add(name.id)
        return frozenset(bound)


def _is_constant(node: ast.AST) -> bool:
    """Whether ``node`` reads no variable (so it can be evaluated before any result exists)."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Name) and inner.id not in ALIASES and inner.id not in FUNCTIONS:
            return False
    return True


def _fold(source: Source, node: ast.AST, interpreter: Interpreter) -> None:
    """Evaluate every largest constant part now, so ``9**9**9`` is refused by :func:`parse`."""
    try:
        if isinstance(node, ast.expr) and not isinstance(node, (ast.Constant, ast.Name, ast.Slice)):
            if _is_constant(node):
                interpreter.run(node, dict(ALIASES))
                return
            if (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Pow)
                and _is_constant(node.right)
            ):  # result ** 1000
                check_exponent(interpreter.run(node.right, dict(ALIASES)))
    except Failure as failure:
        error = runtime_error(source, failure)
        raise ExpressionError(source.original, error.reason, position=error.position) from None
    for child in _children(node):
        _fold(source, child, interpreter)
