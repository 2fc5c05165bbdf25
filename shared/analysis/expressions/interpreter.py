"""The interpreter: evaluates a checked tree against one result, within the bounds of
:mod:`.limits` (every step counted against :data:`~.limits.MAX_STEPS`).

It walks only the node types the checker lets through, reads maps (never attributes of Python
objects) and calls only :data:`~.functions.FUNCTIONS`; it never compiles, evals or execs.
Failures are raised as :class:`~.errors.Failure`, which the caller turns into an
:class:`~.errors.ExpressionError` quoting the condition.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

from shared.analysis.expressions.errors import Failure
from shared.analysis.expressions.functions import FUNCTIONS
from shared.analysis.expressions.limits import MAX_INT_BITS, MAX_SIZE, MAX_STEPS
from shared.analysis.expressions.source import OPERATOR_SYMBOLS
from shared.analysis.expressions.values import (
    REPR,
    check_exponent,
    check_int,
    describe,
    is_number,
    items_of,
    kind,
    sized,
)


class Interpreter:
    """Evaluates a checked tree; counts its work against :data:`MAX_STEPS`."""

    def __init__(self) -> None:
        self.steps = 0

    def tick(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > MAX_STEPS:
            raise Failure(f"too much work (more than {MAX_STEPS} steps)")

    def run(self, node: ast.AST, env: dict[str, Any]) -> Any:
        self.tick()
        method = _NODE_METHODS.get(type(node))
        if method is None:  # the checker lets no such node through
            raise Failure(f"{type(node).__name__} cannot be evaluated", node)
        try:
            return method(self, node, env)
        except Failure as failure:
            if failure.node is None:
                failure.node = node
            raise
        except (ArithmeticError, TypeError, ValueError, LookupError) as error:
            raise Failure(f"{type(error).__name__}: {error}", node) from None

    def constant(self, node: ast.Constant, env: dict[str, Any]) -> Any:
        return node.value

    def name(self, node: ast.Name, env: dict[str, Any]) -> Any:
        return env[node.id]

    def bool_op(self, node: ast.BoolOp, env: dict[str, Any]) -> Any:
        value: Any = None
        for operand in node.values:
            value = self.run(operand, env)
            if isinstance(node.op, ast.And) != bool(value):
                return value
        return value

    def unary_op(self, node: ast.UnaryOp, env: dict[str, Any]) -> Any:
        value = self.run(node.operand, env)
        if isinstance(node.op, ast.Not):
            return not value
        if not is_number(value):
            symbol = OPERATOR_SYMBOLS[type(node.op)]
            raise Failure(f"cannot apply unary {symbol} to {describe(value)}")
        return -value if isinstance(node.op, ast.USub) else +value

    def bin_op(self, node: ast.BinOp, env: dict[str, Any]) -> Any:
        left = self.run(node.left, env)
        right = self.run(node.right, env)
        return self.arithmetic(node.op, left, right)

    def arithmetic(self, op: ast.operator, left: Any, right: Any) -> Any:
        symbol = OPERATOR_SYMBOLS[type(op)]
        if is_number(left) and is_number(right):
            if isinstance(op, ast.Pow):
                check_exponent(right)
            if isinstance(left, int) and isinstance(right, int):
                # the size of the integer before it is computed: bits of a product add up
                bits = 0
                if isinstance(op, ast.Pow) and right > 0:
                    bits = left.bit_length() * right
                elif isinstance(op, ast.Mult):
                    bits = left.bit_length() + right.bit_length()
                if bits > MAX_INT_BITS:
                    raise Failure(f"number too large (more than {MAX_INT_BITS} bits)")
            try:
                return check_int(_ARITHMETIC[type(op)](left, right))
            except ZeroDivisionError:
                raise Failure("division by zero") from None
            except OverflowError:
                raise Failure("number too large") from None
        sequences = (str, list, tuple)
        if isinstance(op, ast.Add) and isinstance(left, sequences) and type(left) is type(right):
            self.grow(len(left) + len(right))
            return operator.add(left, right)
        if isinstance(op, ast.Mult):
            times, sequence = (right, left) if isinstance(left, sequences) else (left, right)
            if isinstance(sequence, sequences) and isinstance(times, int):
                self.grow(len(sequence) * max(times, 0))
                return sequence * times
        raise Failure(f"cannot apply {symbol} to {describe(left)} and {describe(right)}")

    def grow(self, size: int) -> None:
        if size > MAX_SIZE:
            raise Failure(f"would build a string or list of {size} items (at most {MAX_SIZE})")
        self.tick(size)

    def compare(self, node: ast.Compare, env: dict[str, Any]) -> Any:
        left = self.run(node.left, env)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.run(comparator, env)
            if not self.compare_one(op, left, right):
                return False
            left = right
        return True

    def compare_one(self, op: ast.cmpop, left: Any, right: Any) -> bool:
        symbol = OPERATOR_SYMBOLS[type(op)]
        if isinstance(op, (ast.Is, ast.IsNot)):
            return (left is right) == isinstance(op, ast.Is)
        if isinstance(op, (ast.In, ast.NotIn)):
            if not isinstance(right, (str, list, tuple, Mapping)):
                raise Failure(f"'{symbol}' needs a list, string or map, not {describe(right)}")
            if isinstance(right, str) and not isinstance(left, str):
                raise Failure(f"'{symbol}' a string needs a string, not {describe(left)}")
            self.tick(len(right))
            try:
                found = left in right
            except TypeError:  # an unhashable key looked up in a map
                found = False
            return bool(found) == isinstance(op, ast.In)
        self.tick(min(sized(left), sized(right)))
        if isinstance(op, (ast.Eq, ast.NotEq)):
            return bool(left == right) == isinstance(op, ast.Eq)
        try:
            return bool(_ORDERINGS[type(op)](left, right))
        except TypeError:
            raise Failure(f"cannot compare {describe(left)} {symbol} {describe(right)}") from None

    def if_exp(self, node: ast.IfExp, env: dict[str, Any]) -> Any:
        return self.run(node.body if self.run(node.test, env) else node.orelse, env)

    def subscript(self, node: ast.Subscript, env: dict[str, Any]) -> Any:
        value = self.run(node.value, env)
        if isinstance(node.slice, ast.Slice):
            if not isinstance(value, (list, tuple, str)):
                raise Failure(f"cannot slice {describe(value)}")
            parts = [
                self.run(p, env) if p else None
                for p in (node.slice.lower, node.slice.upper, node.slice.step)
            ]
            if any(p is not None and not isinstance(p, int) for p in parts):
                raise Failure("slice bounds must be whole numbers")
            if parts[2] == 0:
                raise Failure("slice step cannot be zero")
            sliced = value[slice(*parts)]
            self.tick(len(sliced))
            return sliced
        key = self.run(node.slice, env)
        return self.lookup(value, key)

    def lookup(self, value: Any, key: Any) -> Any:
        if isinstance(value, Mapping):
            try:
                return value.get(key)  # a missing key is nil, as in expr-lang
            except TypeError:
                raise Failure(f"a map cannot have the key {describe(key)}") from None
        if isinstance(value, (list, tuple, str)):
            if not isinstance(key, int):
                raise Failure(f"an index must be a whole number, not {describe(key)}")
            if not -len(value) <= key < len(value):
                raise Failure(f"index {key} is out of range ({kind(value)} of {len(value)})")
            return value[key]
        raise Failure(f"cannot index {describe(value)} with [{REPR.repr(key)}]")

    def attribute(self, node: ast.Attribute, env: dict[str, Any]) -> Any:
        value = self.run(node.value, env)
        if not isinstance(value, Mapping):
            raise Failure(f".{node.attr} needs a map, not {describe(value)}")
        return value.get(node.attr)

    def sequence(self, node: ast.List | ast.Tuple, env: dict[str, Any]) -> Any:
        values = [self.run(element, env) for element in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)

    def call(self, node: ast.Call, env: dict[str, Any]) -> Any:
        assert isinstance(node.func, ast.Name)  # the checker allows nothing else
        function = FUNCTIONS[node.func.id]
        args = [self.run(arg, env) for arg in node.args]
        return function.implementation(self, *args)

    def comprehension(self, node: ast.ListComp | ast.GeneratorExp, env: dict[str, Any]) -> Any:
        out: list[Any] = []
        self.generate(node, 0, env, out)
        return out

    def generate(
        self, node: ast.ListComp | ast.GeneratorExp, index: int, env: dict[str, Any], out: list[Any]
    ) -> None:
        clause = node.generators[index]
        for item in items_of(self.run(clause.iter, env), "'for'"):
            self.tick()
            inner = dict(env)
            self.bind(clause.target, item, inner)
            if not all(self.run(condition, inner) for condition in clause.ifs):
                continue
            if index + 1 < len(node.generators):
                self.generate(node, index + 1, inner, out)
            else:
                out.append(self.run(node.elt, inner))
                if len(out) > MAX_SIZE:
                    raise Failure(f"would build a list of more than {MAX_SIZE} items")

    def bind(self, target: ast.AST, item: Any, env: dict[str, Any]) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = item
            return
        assert isinstance(target, ast.Tuple)
        names = [t.id for t in target.elts if isinstance(t, ast.Name)]
        if not isinstance(item, (list, tuple)) or len(item) != len(names):
            raise Failure(f"cannot unpack {describe(item)} into {len(names)} names")
        env.update(zip(names, item, strict=True))


_NODE_METHODS: Mapping[type[ast.AST], Callable[[Interpreter, Any, dict[str, Any]], Any]] = {
    ast.Constant: Interpreter.constant,
    ast.Name: Interpreter.name,
    ast.BoolOp: Interpreter.bool_op,
    ast.UnaryOp: Interpreter.unary_op,
    ast.BinOp: Interpreter.bin_op,
    ast.Compare: Interpreter.compare,
    ast.IfExp: Interpreter.if_exp,
    ast.Subscript: Interpreter.subscript,
    ast.Attribute: Interpreter.attribute,
    ast.List: Interpreter.sequence,
    ast.Tuple: Interpreter.sequence,
    ast.Call: Interpreter.call,
    ast.ListComp: Interpreter.comprehension,
    ast.GeneratorExp: Interpreter.comprehension,
}

_ARITHMETIC: Mapping[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}

_ORDERINGS: Mapping[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
